import Crypto
import Foundation

/// The recorder's signing key (Ed25519): made once at first start, kept in a 0600 state file,
/// never served or logged. Only its public half leaves the process.
public struct DeviceKey: Sendable {
    let privateKey: Curve25519.Signing.PrivateKey

    /// A new random key.
    public static func generate() -> DeviceKey {
        DeviceKey(privateKey: Curve25519.Signing.PrivateKey())
    }

    /// The key from its 32-byte seed, as the state file stores it (base64).
    public init(base64Seed: String) throws(EvidenceError) {
        guard let data = Data(base64Encoded: base64Seed), data.count == 32,
              let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: data) else {
            throw EvidenceError("the device key is not a base64 Ed25519 seed of 32 bytes")
        }
        privateKey = key
    }

    init(privateKey: Curve25519.Signing.PrivateKey) {
        self.privateKey = privateKey
    }

    /// The seed in base64, for the state file only.
    public var base64Seed: String { privateKey.rawRepresentation.base64EncodedString() }

    /// The public half, which verifies what this key signs.
    public var publicKey: SigningPublicKey { SigningPublicKey(raw: Array(privateKey.publicKey.rawRepresentation)) }

    /// Ed25519 signature of `message` (64 bytes).
    func sign(_ message: [UInt8]) -> [UInt8] {
        // Signing only fails on a broken key, which `init` rules out.
        Array((try? privateKey.signature(for: message)) ?? Data(count: 64))
    }
}
