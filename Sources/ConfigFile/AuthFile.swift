import Foundation
import Platform
import ServiceSettings
import TOMLKit

/// The account as stored in the auth state file: a user name and a bcrypt hash, never a password; and for RTSP
/// Digest authentication (which cannot use bcrypt) the HA1 of the realm `blackbox`.
public struct StoredCredentials: Sendable, Equatable {
    /// User name.
    public var user: String
    /// bcrypt hash.
    public var passwordHash: String
    /// MD5 of `user:blackbox:password` (RTSP Digest); nil in files written before RTSP (then RTSP offers Basic only).
    public var digestHA1: String?

    /// Creates the record.
    public init(user: String, passwordHash: String, digestHA1: String? = nil) {
        self.user = user
        self.passwordHash = passwordHash
        self.digestHA1 = digestHA1
    }

    /// The Digest HA1 of `user` and `password` in `realm`: lowercase hex MD5 of `user:realm:password` (RFC 2617).
    public static func digestHA1(user: String, realm: String, password: String) -> String {
        DigestAuth.ha1(user: user, realm: realm, password: password)
    }

    /// Whether `text` looks like an HA1: 32 hex digits.
    public static func isHA1(_ text: String) -> Bool {
        text.utf8.count == 32 && text.unicodeScalars.allSatisfy { ("0"..."9").contains($0) || ("a"..."f").contains($0) }
    }

    /// A user name the login form and Basic auth can carry: 1-64 printable characters, no spaces, no `:`.
    public static func isValidUser(_ user: String) -> Bool {
        (1...64).contains(user.count) && user.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value != 0x7F && $0 != ":" }
    }

    /// Whether `hash` looks like a bcrypt hash the daemon can check (`$2a$`, `$2b$` or `$2y$`, 60 characters).
    public static func isHash(_ hash: String) -> Bool {
        let parts = hash.split(separator: "$", omittingEmptySubsequences: false)
        return hash.utf8.count == 60 && parts.count == 4 && ["2a", "2b", "2y"].contains(parts[1]) && Int(parts[2]) != nil
    }

    /// The record as TOML lines (`user = …`, `password_hash = …`), for the auth file or an `[auth]` table.
    public var toml: String {
        "user = \(StateFile.quoted(user))\npassword_hash = \(StateFile.quoted(passwordHash))\n"
            + (digestHA1.map { "digest_ha1 = \(StateFile.quoted($0))\n" } ?? "")
    }
}

/// The auth state file (`auth.toml`, mode 0600): written on first run with a generated password's
/// hash, and by `blackbox passwd`.
public enum AuthFile {
    /// Reads `path`; nil when it does not exist.
    public static func load(path: String) throws(ConfigFileError) -> StoredCredentials? {
        guard let table = try StateFile.load(path, what: "the auth file", remedy: "delete it to have a new password generated") else {
            return nil
        }
        guard let user = table["user"]?.string, let hash = table["password_hash"]?.string else {
            throw ConfigFileError(description: "\(path): needs user = \"...\" and password_hash = \"...\"; delete it to have a new password generated")
        }
        let ha1 = table["digest_ha1"]?.string.flatMap { StoredCredentials.isHA1($0) ? $0 : nil }
        return StoredCredentials(user: user, passwordHash: hash, digestHA1: ha1)
    }

    /// Sets the auth file aside when a power cut left it empty (see `StateFile.setAsideIfEmptied`); where it went.
    public static func setAsideIfEmptied(path: String) -> String? {
        StateFile.setAsideIfEmptied(path)
    }

    /// Writes `credentials` to `path` with mode 0600 (its folder 0700), replacing any old file atomically.
    public static func save(_ credentials: StoredCredentials, path: String) throws(ConfigFileError) {
        let text = "# Written by blackbox. The password itself is not stored; change it with `blackbox passwd`.\n" + credentials.toml
        try StateFile.save(text, to: path, what: "the auth file")
    }
}

/// Files the daemon writes for itself (auth, saved camera settings): replaced atomically, mode 0600
/// in a 0700 folder, so a power cut leaves the old or the new file, never half of one.
enum StateFile {
    /// `text` as a TOML basic string.
    static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// Moves `path` aside (to `PATH.damaged-UNIXTIME`) when a power cut left it empty: no bytes, or only NUL bytes or
    /// blanks (FAT's directory entry written without the file's data). Such a file holds nothing to keep, and treated
    /// as missing it is made again, where reading it would stop the daemon at every start. Returns where it went.
    static func setAsideIfEmptied(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path), data.allSatisfy({ $0 == 0 || $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 })
        else { return nil }
        let aside = "\(path).damaged-\(Int(Date().timeIntervalSince1970))"
        guard rename(path, aside) == 0 else { return nil }
        syncDirectory((path as NSString).deletingLastPathComponent)
        return aside
    }

    /// Reads and parses `path`; nil when it does not exist.
    static func load(_ path: String, what: String, remedy: String) throws(ConfigFileError) -> TOMLTable? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigFileError(description: "\(path): cannot read \(what) (it should be readable by the daemon's user only, mode 0600)")
        }
        do {
            return try TOMLTable(string: String(decoding: data, as: UTF8.self))
        } catch {
            throw ConfigFileError(description: "\(path): not valid TOML: \(error); \(remedy)")
        }
    }

    /// Writes `text` to `path`: a temporary file, fsync, a rename that survives a power cut (on FAT too: the device key
    /// written at a first start came back empty after a cut, and the daemon could not start again), and the folder's
    /// own entry synced in its parent.
    static func save(_ text: String, to path: String, what: String) throws(ConfigFileError) {
        let folder = (path as NSString).deletingLastPathComponent
        do {
            if !folder.isEmpty {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            }
        } catch {
            throw ConfigFileError(description: "\(folder): cannot create the folder for \(what): \(error.localizedDescription)")
        }
        let temporary = path + ".new"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw ConfigFileError(description: "\(path): cannot write \(what): \(String(cString: strerror(errno)))")
        }
        fchmod(fd, 0o600)
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        let failure = written == bytes.count && synced ? durableRename(fd: fd, from: temporary, to: path, directory: folder.isEmpty ? "." : folder)
            : ("write", errno)
        close(fd)
        if let failure {
            unlink(temporary)
            throw ConfigFileError(description: "\(path): cannot write \(what): \(String(cString: strerror(failure.errno)))")
        }
        if !folder.isEmpty { syncDirectory((folder as NSString).deletingLastPathComponent) }
    }
}
