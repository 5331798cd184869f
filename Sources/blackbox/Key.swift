import ArgumentParser
import ConfigFile
import Evidence
import Foundation

/// `blackbox key`: the device key's public half, which verifies this recorder's footage.
struct Key: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show (or export) the public key that verifies this recorder's signed recordings.",
        discussion: "The private key stays in the recordings folder's .blackbox/device-key.toml (mode 0600); it is made at the daemon's first start."
    )

    @Option(name: .customLong("recordings"), help: ArgumentHelp("Recordings folder.", valueName: "dir"))
    var root = "recordings"

    @Option(name: .customLong("export"), help: ArgumentHelp("Write the public key as PEM to this file ('-' for standard output).", valueName: "file"))
    var exportPath: String?

    func run() throws {
        let path = DeviceKeyFile.defaultPath(recordings: root)
        guard let key = try DeviceKeyFile.load(path: path) else {
            throw StartupError("no device key at \(path): the daemon makes it at its first start with --recordings \(root)")
        }
        let publicKey = key.publicKey
        if let exportPath {
            if exportPath == "-" {
                print(publicKey.pem, terminator: "")
                return
            }
            do {
                try publicKey.pem.write(toFile: exportPath, atomically: true, encoding: .utf8)
            } catch {
                throw StartupError("cannot write \(exportPath): \(error.localizedDescription)")
            }
            print("blackbox: public key written to \(exportPath)")
            return
        }
        print("algorithm:   Ed25519")
        print("public key:  \(publicKey.base64)")
        print("fingerprint: \(publicKey.fingerprint)")
        print("key file:    \(path) (private, mode 0600)")
    }
}
