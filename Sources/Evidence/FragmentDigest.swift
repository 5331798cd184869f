import Crypto

/// The two SHA-256 digests a link holds for its fragment: of the sample table (each sample's duration,
/// size and sync flag) and of the samples (the hash of each sample's own SHA-256, in order). Kept apart
/// so a verifier can say which was changed; per-sample hashes let an export cut a fragment at any
/// frame and still prove the frames it kept (it carries the hashes of those it left out).
public struct FragmentDigest: Sendable, Equatable {
    /// Samples covered.
    public var sampleCount: UInt32
    /// SHA-256 over (duration u32, size u32, sync u8) of each sample, big-endian.
    public var table: [UInt8]
    /// SHA-256 over the SHA-256 of each sample, in order.
    public var data: [UInt8]

    /// Digests of samples whose bytes lie back to back in `bytes`.
    public init(durations: [UInt32], sizes: [Int], keyframes: [Bool], bytes: UnsafeRawBufferPointer) {
        let samples = Self.samples(durations: durations, sizes: sizes, keyframes: keyframes, bytes: bytes)
        self.init(rows: samples.rows, sampleHashes: samples.hashes)
    }

    /// Digests of samples each in a buffer of its own (a recorder's frames, written from where the encoder left them).
    public init(durations: [UInt32], keyframes: [Bool], samples: [UnsafeRawBufferPointer]) {
        let table = Self.samples(durations: durations, keyframes: keyframes, samples: samples)
        self.init(rows: table.rows, sampleHashes: table.hashes)
    }

    /// Each sample's table row and hash, for samples whose bytes lie back to back in `bytes`.
    public static func samples(durations: [UInt32], sizes: [Int], keyframes: [Bool], bytes: UnsafeRawBufferPointer) -> (rows: [[UInt8]], hashes: [[UInt8]]) {
        samples(durations: durations, keyframes: keyframes, samples: split(bytes, sizes: sizes))
    }

    /// Each sample's table row and hash, for samples each in a buffer of its own.
    public static func samples(durations: [UInt32], keyframes: [Bool], samples: [UnsafeRawBufferPointer]) -> (rows: [[UInt8]], hashes: [[UInt8]]) {
        (samples.indices.map { tableRow(duration: durations[$0], size: samples[$0].count, keyframe: keyframes[$0]) }, samples.map(sampleHash))
    }

    /// `bytes` cut into consecutive samples of `sizes`.
    public static func split(_ bytes: UnsafeRawBufferPointer, sizes: [Int]) -> [UnsafeRawBufferPointer] {
        var offset = 0
        return sizes.map { size in
            defer { offset += size }
            return UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + size])
        }
    }

    /// Digests from each sample's table row and hash (an export's cut fragment is checked this way).
    public init(rows: [[UInt8]], sampleHashes: [[UInt8]]) {
        sampleCount = UInt32(rows.count)
        table = Array(SHA256.hash(data: rows.flatMap { $0 }))
        data = Array(SHA256.hash(data: sampleHashes.flatMap { $0 }))
    }

    /// A sample's row in the table digest: duration u32, size u32, sync u8 (big-endian).
    public static func tableRow(duration: UInt32, size: Int, keyframe: Bool) -> [UInt8] {
        bigEndian(duration) + bigEndian(UInt32(size)) + [keyframe ? 1 : 0]
    }

    /// A sample's own SHA-256.
    public static func sampleHash(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        Array(SHA256.hash(data: bytes))
    }
}
