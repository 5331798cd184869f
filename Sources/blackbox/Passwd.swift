import ArgumentParser
import ConfigFile
import Foundation
import Logging
import RTSP
import Serving

/// `blackbox passwd`: sets the password of the web UI and API.
struct Passwd: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Set the password for the web UI and API (stored as a bcrypt hash, mode 0600).",
        discussion: """
            Reads the new password from the terminal (twice), or from the first line of standard input when it is \
            not a terminal: echo 'secret-pass' | blackbox passwd --recordings /var/lib/blackbox. \
            Restart the daemon afterwards. With --print-hash the hash is printed for [auth] password_hash instead.
            """
    )

    @Option(help: ArgumentHelp("Auth state file. Default: RECORDINGS/.blackbox/auth.toml.", valueName: "path"))
    var file: String?

    @Option(help: ArgumentHelp("Recordings folder whose auth file to change. Default: recordings.", valueName: "dir"))
    var recordings: String = "recordings"

    @Option(help: "User name, 1-64 characters without ':' or spaces. Default: admin.")
    var user: String = "admin"

    @Flag(help: "Print the hash for the configuration file instead of writing the auth file.")
    var printHash = false

    /// Shortest password accepted.
    static let minimumLength = 8

    /// Where the auth state file lives unless configured: beside the recordings, since that is the
    /// one folder the daemon always may write (systemd's ReadWritePaths).
    static func defaultPath(recordings: String) -> String {
        "\(recordings)/.blackbox/auth.toml"
    }

    func validate() throws {
        guard StoredCredentials.isValidUser(user) else {
            throw ValidationError("--user '\(user)' is not allowed; allowed: 1 to 64 characters without spaces or ':'")
        }
    }

    func run() throws {
        let password: String
        if isatty(STDIN_FILENO) != 0 {
            let first = String(cString: getpass("New password: "))
            let second = String(cString: getpass("Again: "))
            guard first == second else { throw StartupError("the two passwords differ; nothing was changed") }
            password = first
        } else {
            password = readLine(strippingNewline: true) ?? ""
        }
        guard password.count >= Self.minimumLength else {
            throw StartupError("the password has \(password.count) characters; allowed: at least \(Self.minimumLength); nothing was changed")
        }
        let stored = StoredCredentials(user: user, passwordHash: Credentials(user: user, password: password).passwordHash,
                                       digestHA1: StoredCredentials.digestHA1(user: user, realm: RTSPAccess.realm, password: password))
        if printHash {
            print("[auth]\n" + stored.toml, terminator: "")
            return
        }
        let path = file ?? Self.defaultPath(recordings: recordings)
        do {
            try AuthFile.save(stored, path: path)
        } catch {
            throw StartupError(error.description)
        }
        print("blackbox: password for '\(user)' stored in \(path); restart the daemon to use it")
    }

    /// The daemon's account: from the configuration, else the auth file; on first run a password
    /// is generated, its hash (and RTSP Digest HA1) stored, and the password printed this once.
    static func credentials(_ source: Run.AuthSource, logger: Logger) throws -> StoredCredentials {
        let path: String
        switch source {
        case .configured(let stored):
            return stored
        case .stateFile(let p):
            path = p
        }
        do {
            if let setAside = AuthFile.setAsideIfEmptied(path: path) {
                logger.error("the auth file was empty after a power cut; set aside, and a new password generated (below)",
                             metadata: ["file": "\(path)", "setAside": "\(setAside)"])
            }
            if let stored = try AuthFile.load(path: path) {
                guard StoredCredentials.isHash(stored.passwordHash) else {
                    throw StartupError("\(path): password_hash is not a bcrypt hash; run 'blackbox passwd' to set a new password")
                }
                return stored
            }
            let password = Credentials.generatePassword()
            let credentials = StoredCredentials(user: "admin", passwordHash: Credentials(user: "admin", password: password).passwordHash,
                                                digestHA1: StoredCredentials.digestHA1(user: "admin", realm: RTSPAccess.realm, password: password))
            try AuthFile.save(credentials, path: path)
            // Printed once, on stdout (the journal under systemd): only the hash is kept.
            FileHandle.standardOutput.write(Data(
                "blackbox: first run: generated password for user 'admin': \(password) (only its hash is stored, in \(path); change it with 'blackbox passwd')\n".utf8))
            logger.notice("generated a password for the web UI and API; it was printed above, once", metadata: ["file": "\(path)"])
            return credentials
        } catch let error as ConfigFileError {
            throw StartupError(error.description)
        }
    }
}
