import Crypto
import Foundation

/// An Ed25519 public key: what `blackbox key` shows and exports and what verification compares against.
public struct SigningPublicKey: Sendable, Equatable, Hashable {
    /// The 32 raw key bytes.
    public let raw: [UInt8]

    /// A key from its 32 raw bytes.
    public init(raw: [UInt8]) {
        self.raw = raw
    }

    // DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the PEM form is this + the 32 key bytes.
    private static let spkiPrefix: [UInt8] = [0x30, 0x2A, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x03, 0x21, 0x00]

    /// Parses a PEM `PUBLIC KEY`, or the 32 key bytes in base64 or hex.
    public init(text: String) throws(EvidenceError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("-----BEGIN PUBLIC KEY-----") {
            let body = trimmed.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
            guard let der = Data(base64Encoded: body).map(Array.init), der.count == 44, Array(der.prefix(12)) == Self.spkiPrefix else {
                throw EvidenceError("not an Ed25519 public key in PEM (expected the 44-byte SubjectPublicKeyInfo of RFC 8410)")
            }
            raw = Array(der.suffix(32))
        } else if trimmed.count == 64, let bytes = Self.hexBytes(trimmed) {
            raw = bytes
        } else if let data = Data(base64Encoded: trimmed), data.count == 32 {
            raw = Array(data)
        } else {
            throw EvidenceError("not an Ed25519 public key; allowed: a PEM 'PUBLIC KEY', or its 32 bytes as base64 or 64 hex digits")
        }
    }

    /// The key in PEM (SubjectPublicKeyInfo), as OpenSSL and Python's `cryptography` read it.
    public var pem: String {
        let body = Data(Self.spkiPrefix + raw).base64EncodedString()
        return "-----BEGIN PUBLIC KEY-----\n\(body)\n-----END PUBLIC KEY-----\n"
    }

    /// The key's 32 bytes in base64.
    public var base64: String { Data(raw).base64EncodedString() }

    /// `SHA256:` and the first 16 bytes of the key's SHA-256 in hex, grouped by four: short enough to read out.
    public var fingerprint: String {
        let digest = Array(SHA256.hash(data: raw)).prefix(16)
        let hex = digest.map { String(format: "%02x", $0) }.joined()
        var groups: [Substring] = []
        var rest = Substring(hex)
        while !rest.isEmpty { groups.append(rest.prefix(4)); rest = rest.dropFirst(4) }
        return "SHA256:" + groups.joined(separator: ":")
    }

    /// Whether `signature` is this key's signature of `message`.
    func isValid(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else { return false }
        return key.isValidSignature(signature, for: message)
    }

    private static func hexBytes(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        var chars = Array(text.utf8)[...]
        while chars.count >= 2 {
            guard let b = UInt8(String(decoding: chars.prefix(2), as: UTF8.self), radix: 16) else { return nil }
            out.append(b)
            chars = chars.dropFirst(2)
        }
        return chars.isEmpty ? out : nil
    }
}
