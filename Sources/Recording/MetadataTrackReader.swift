#if canImport(Glibc)
import Glibc
#endif

/// Reads the timed metadata samples (GPS reports, accelerometer readings) of recordings, each with the wall-clock time it was recorded at.
public enum MetadataTrackReader {
    /// One sample and when it was recorded.
    public struct Sample: Sendable {
        /// Wall-clock time, Unix nanoseconds (the file's signed start plus the sample's track time).
        public var wallNanos: Int64
        /// The record's bytes.
        public var bytes: [UInt8]
    }

    /// Every metadata sample of the file at `path` (a `.part` up to its last whole fragment), in order; none when the
    /// file has no metadata track. With `cammType`, only the CAMM records of that type (the GPS's among 100 readings a
    /// second of the accelerometer's are not copied out one by one only to be dropped).
    public static func samples(path: String, cammType: UInt16? = nil) throws(RecordingError) -> [Sample] {
        var out: [Sample] = []
        try forEach(path: path, cammType: cammType) { wallNanos, bytes in out.append(Sample(wallNanos: wallNanos, bytes: Array(bytes))) }
        return out
    }

    /// Calls `body` with each metadata sample's wall-clock time and bytes (a slice of the fragment's data, no copy), in
    /// order; with `cammType`, only the CAMM records of that type.
    public static func forEach(path: String, cammType: UInt16? = nil, _ body: (Int64, ArraySlice<UInt8>) -> Void) throws(RecordingError) {
        let scan = try MP4Reader.scan(path: path)
        guard let track = scan.metadata else { return }
        let fd = RecordingReadOpen.open(path)
        guard fd >= 0 else { throw RecordingError(errno: errno, "open", path) }
        defer { close(fd) }
        for fragment in scan.fragments {
            guard let run = fragment.runs.first(where: { $0.trackID == track.trackID }), !run.sizes.isEmpty,
                  let bytes = MP4Reader.read(fd, at: run.dataOffset, count: run.sizes.reduce(0) { $0 + Int($1) }) else { continue }
            let start = scan.wallStart(of: fragment)
            var offset = 0
            // Wrapping arithmetic: a damaged file's times may be anything, and must not trap.
            var ticks = Int64(truncatingIfNeeded: run.baseTime &- fragment.baseTime &* track.timescale / max(1, scan.timescale))
            for (size, duration) in zip(run.sizes, run.durations) {
                defer {
                    offset += Int(size)
                    ticks &+= Int64(duration)
                }
                if let cammType, size < 4 || UInt16(bytes[offset + 2]) | UInt16(bytes[offset + 3]) << 8 != cammType { continue }
                body(start &+ ticks &* 1_000_000_000 / Int64(truncatingIfNeeded: max(1, track.timescale)), bytes[offset..<offset + Int(size)])
            }
        }
    }
}
