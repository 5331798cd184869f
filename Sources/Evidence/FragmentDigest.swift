import Crypto

/// The two SHA-256 digests a link holds for its fragment: of the sample table (each sample's duration,
/// size and sync flag) and of the sample bytes. Kept apart so a verifier can say which was changed.
public struct FragmentDigest: Sendable, Equatable {
    /// Samples covered.
    public var sampleCount: UInt32
    /// SHA-256 over (duration u32, size u32, sync u8) of each sample, big-endian.
    public var table: [UInt8]
    /// SHA-256 over the sample bytes, in order.
    public var data: [UInt8]

    /// Digests of samples whose bytes lie back to back in `bytes`.
    public init(durations: [UInt32], sizes: [Int], keyframes: [Bool], bytes: UnsafeRawBufferPointer) {
        var table = SHA256()
        var row = [UInt8](repeating: 0, count: 9)
        for i in sizes.indices {
            row.replaceSubrange(0..<4, with: bigEndian(durations[i]))
            row.replaceSubrange(4..<8, with: bigEndian(UInt32(sizes[i])))
            row[8] = keyframes[i] ? 1 : 0
            table.update(data: row)
        }
        sampleCount = UInt32(sizes.count)
        self.table = Array(table.finalize())
        data = Array(SHA256.hash(data: bytes))
    }
}
