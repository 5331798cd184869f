import Crypto

/// One fragment's entry in a camera's hash chain, as stored in the `uuid` box after the fragment.
/// The layout is written down in docs/SIGNING.md; `tools/verify_signatures.py` reads the same bytes.
public struct ChainLink: Sendable, Equatable {
    /// Format version.
    public static let version: UInt8 = 1
    /// Domain separation of the chain hash, so the digest means nothing outside this format.
    static let domain = Array("blackbox-chain-v1".utf8)

    /// Position in the chain: 0 for its first fragment, one more for each after it.
    public var index: UInt64
    /// Wall-clock time of the fragment's first sample, nanoseconds since 1970.
    public var wallStartNanos: Int64
    /// Whether the kernel clock was NTP-synchronised when the fragment was signed.
    public var clockSynced: Bool
    /// Whether the clock agreed with the GPS's time within a second when the fragment was signed.
    public var clockCheckedByGPS = false
    /// Ticks per second of the sample durations.
    public var timescale: UInt32
    /// Samples in the fragment.
    public var sampleCount: UInt32
    /// SHA-256 of every sample's duration, size and sync flag.
    public var tableDigest: [UInt8]
    /// SHA-256 of the sample bytes.
    public var dataDigest: [UInt8]
    /// The previous fragment's chain value (zeros for the first).
    public var previous: [UInt8]
    /// Which chain: the camera id for its segments, `camera/event/name` for an event clip.
    public var chainID: String
    /// SHA-256 of the fields above: what is signed, and what the next link refers to.
    public var chain: [UInt8]
    /// Key that signed it.
    public var publicKey: SigningPublicKey
    /// Ed25519 signature of `chain`.
    public var signature: [UInt8]

    /// The fields the chain value covers, in stored order.
    var signedFields: [UInt8] {
        var out: [UInt8] = [Self.version]
        out += bigEndian(index); out += bigEndian(UInt64(bitPattern: wallStartNanos))
        out.append((clockSynced ? 1 : 0) | (clockCheckedByGPS ? 2 : 0))
        out += bigEndian(timescale); out += bigEndian(sampleCount)
        out += tableDigest; out += dataDigest; out += previous
        let id = Array(chainID.utf8.prefix(255))
        out.append(UInt8(id.count)); out += id
        return out
    }

    /// The chain value of the signed fields.
    var computedChain: [UInt8] { Array(SHA256.hash(data: Self.domain + signedFields)) }

    /// The stored bytes (the `uuid` box's body after its 16-byte type).
    public var encoded: [UInt8] { signedFields + chain + publicKey.raw + signature }

    /// Reads a stored link; nil when the bytes are not one.
    public init?(encoded b: [UInt8]) {
        guard b.count >= 123 + 128, b[0] == Self.version else { return nil }
        func u64(_ i: Int) -> UInt64 { b[i..<i + 8].reduce(0) { $0 << 8 | UInt64($1) } }
        func u32(_ i: Int) -> UInt32 { b[i..<i + 4].reduce(0) { $0 << 8 | UInt32($1) } }
        let idLength = Int(b[122])
        guard b.count == 123 + idLength + 128 else { return nil }
        index = u64(1)
        wallStartNanos = Int64(bitPattern: u64(9))
        clockSynced = b[17] & 1 != 0
        clockCheckedByGPS = b[17] & 2 != 0
        timescale = u32(18)
        sampleCount = u32(22)
        tableDigest = Array(b[26..<58]); dataDigest = Array(b[58..<90]); previous = Array(b[90..<122])
        chainID = String(decoding: b[123..<123 + idLength], as: UTF8.self)
        var i = 123 + idLength
        chain = Array(b[i..<i + 32]); i += 32
        publicKey = SigningPublicKey(raw: Array(b[i..<i + 32])); i += 32
        signature = Array(b[i..<i + 64])
    }

    init(index: UInt64, wallStartNanos: Int64, clockSynced: Bool, clockCheckedByGPS: Bool = false, timescale: UInt32, digest: FragmentDigest,
         previous: [UInt8], chainID: String, key: DeviceKey) {
        self.index = index
        self.wallStartNanos = wallStartNanos
        self.clockSynced = clockSynced
        self.clockCheckedByGPS = clockCheckedByGPS
        self.timescale = timescale
        sampleCount = digest.sampleCount
        tableDigest = digest.table
        dataDigest = digest.data
        self.previous = previous
        self.chainID = chainID
        chain = []
        publicKey = key.publicKey
        signature = []
        chain = computedChain
        signature = key.sign(chain)
    }

    /// Whether the stored chain value is the hash of the stored fields.
    public var chainMatchesFields: Bool { chain == computedChain }

    /// Whether the signature is the stored key's signature of the chain value.
    public var signatureIsValid: Bool { publicKey.isValid(signature, for: chain) }
}

func bigEndian<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
    (0..<T.bitWidth / 8).reversed().map { UInt8(truncatingIfNeeded: v >> ($0 * 8)) }
}
