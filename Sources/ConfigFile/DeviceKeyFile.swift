import Evidence
import Foundation

/// The device key's state file (`device-key.toml`, mode 0600 in a 0700 folder): made at first start,
/// read at every start after. It holds the private seed and is never served or logged.
public enum DeviceKeyFile {
    /// Where the key lives by default: beside the auth file in the recordings folder's `.blackbox`.
    public static func defaultPath(recordings: String) -> String {
        "\(recordings)/.blackbox/device-key.toml"
    }

    /// Reads the key at `path`; nil when there is none yet.
    public static func load(path: String) throws(ConfigFileError) -> DeviceKey? {
        guard let table = try StateFile.load(path, what: "the device key", remedy: "restore it from a backup; a new key would not match older recordings") else {
            return nil
        }
        guard let seed = table["ed25519_seed"]?.string else {
            throw ConfigFileError(description: "\(path): needs ed25519_seed = \"...\" (base64); restore it from a backup")
        }
        do {
            return try DeviceKey(base64Seed: seed)
        } catch {
            throw ConfigFileError(description: "\(path): \(error)")
        }
    }

    /// The key at `path`, made and saved first when there is none, or when a power cut left the file empty (it is set
    /// aside, and `setAside` says where: recording goes on with a new key rather than not at all).
    public static func loadOrCreate(path: String) throws(ConfigFileError) -> (key: DeviceKey, created: Bool, setAside: String?) {
        let setAside = StateFile.setAsideIfEmptied(path)
        if let key = try load(path: path) { return (key, false, nil) }
        let key = DeviceKey.generate()
        let text = """
            # Written by blackbox: the key that signs every recorded fragment. Keep it secret and back it up;
            # its public half (`blackbox key`) is what verifies recordings.
            ed25519_seed = \(StateFile.quoted(key.base64Seed))
            public_key = \(StateFile.quoted(key.publicKey.base64))

            """
        try StateFile.save(text, to: path, what: "the device key")
        return (key, true, setAside)
    }
}
