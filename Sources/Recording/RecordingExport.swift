import Frames
#if canImport(Glibc)
import Glibc
#endif

/// What an export wrote.
public struct ExportReport: Sendable {
    /// The file written.
    public var output: String
    /// Source files used, in order.
    public var sources: [String] = []
    /// Fragments copied.
    public var fragments = 0
    /// Frames copied.
    public var frames = 0
    /// Seconds of video.
    public var seconds = 0.0
    /// Wall-clock start and end of what was exported, Unix nanoseconds.
    public var startNanos: Int64 = 0
    /// End of what was exported.
    public var endNanos: Int64 = 0
    /// Holes in the asked span (no recording there), as (start, seconds).
    public var gaps: [(startNanos: Int64, seconds: Double)] = []
    /// Why less than asked was exported (a change of codec or picture size, unsigned fragments).
    public var notes: [String] = []
}

/// Writes one MP4 of a time span from a camera's recordings without re-encoding: whole fragments are
/// copied (each starts at a keyframe), re-timed to follow each other, with their signed chain links, so
/// the export plays everywhere and verifies on its own.
public enum RecordingExport {
    /// One fragment to copy and where it is.
    private struct Piece {
        let path: String
        let scan: MP4Scan
        let fragment: MP4Scan.Fragment
        let start: Int64
        let end: Int64
    }

    /// Exports the fragments of `files` overlapping [`from`, `to`) (Unix nanoseconds) into `output`.
    /// Files may be given in any order; fragments are placed by their signed (else stated) wall-clock time.
    public static func export(files: [String], from: Int64, to: Int64, output: String) throws(RecordingError) -> ExportReport {
        guard to > from else { throw RecordingError("the export's end must be after its start") }
        var pieces: [Piece] = []
        for path in files {
            guard let scan = try? MP4Reader.scan(path: path), scan.initEnd != nil else { continue }
            let base = scan.fragments.first?.baseTime ?? 0
            for fragment in scan.fragments {
                // The signed start is the truth when there is one; else the file's stated start plus the track time.
                let start = fragment.link?.wallStartNanos
                    ?? Int64(scan.creationTime ?? 0) * 1_000_000_000 + Int64((fragment.baseTime - base) * 1_000_000_000 / max(1, scan.timescale))
                let ticks = fragment.durations.reduce(UInt64(0)) { $0 + UInt64($1) }
                let end = start + Int64(ticks * 1_000_000_000 / max(1, scan.timescale))
                if end > from && start < to { pieces.append(Piece(path: path, scan: scan, fragment: fragment, start: start, end: end)) }
            }
        }
        pieces.sort { $0.start < $1.start }
        guard let first = pieces.first else { throw RecordingError("no recording between the asked times") }
        var report = ExportReport(output: output)
        let part = output + ".part"
        let fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RecordingError(errno: errno, "create", part) }
        var done = false
        var sources: [String: Int32] = [:]
        defer {
            close(fd)
            for source in sources.values { close(source) }
            if !done { unlink(part) }
        }
        func readBytes(_ path: String, at offset: Int, count: Int) throws(RecordingError) -> [UInt8] {
            let source = sources[path] ?? open(path, O_RDONLY | O_CLOEXEC)
            guard source >= 0 else { throw RecordingError(errno: errno, "open", path) }
            sources[path] = source
            guard let bytes = MP4Reader.read(source, at: offset, count: count) else { throw RecordingError("\(path): shorter than its index says") }
            return bytes
        }
        var initSection = try readBytes(first.path, at: 0, count: first.scan.initEnd!)
        if let at = first.scan.creationFieldOffset {
            // The export starts when its first fragment does: its creation time says so (a verifier compares the two).
            var w = BoxWriter()
            let created = UInt64(max(0, first.start / 1_000_000_000)) + FragmentedMP4.epochOffset
            w.u64(created); w.u64(created)
            initSection.replaceSubrange(at..<at + 16, with: w.bytes)
        }
        try writeAll(fd, initSection, path: part)
        var time: UInt64 = 0
        var expected = max(from, first.start)
        for piece in pieces {
            if piece.scan.sampleDescription != first.scan.sampleDescription {
                report.notes.append("the recording changes codec or picture size at \(LocalTime.iso8601(Int(piece.start / 1_000_000_000))); exported up to there")
                break
            }
            if piece.start > expected + 1_500_000_000 {
                report.gaps.append((expected, Double(piece.start - expected) / 1e9))
            }
            let fragment = piece.fragment
            report.fragments += 1
            let header = FragmentedMP4.fragmentHeader(sequence: UInt32(report.fragments), baseTime: time, sizes: fragment.sizes.map(Int.init),
                                                      durations: fragment.durations,
                                                      keyframes: piece.scan.codec == .h264 ? fragment.keyframes : nil)
            let payload = fragment.sizes.reduce(0) { $0 + Int($1) }
            var bytes = header
            bytes += try readBytes(piece.path, at: fragment.dataOffset, count: payload)
            if let linkEnd = fragment.linkEnd {
                bytes += try readBytes(piece.path, at: fragment.end, count: linkEnd - fragment.end)
            } else {
                report.notes.append("a fragment at \(LocalTime.iso8601(Int(piece.start / 1_000_000_000))) is not signed")
            }
            try writeAll(fd, bytes, path: part)
            time += fragment.durations.reduce(UInt64(0)) { $0 + UInt64($1) }
            report.frames += fragment.sizes.count
            if report.sources.last != piece.path { report.sources.append(piece.path) }
            report.endNanos = piece.end
            expected = piece.end
        }
        if to > expected + 1_500_000_000, report.endNanos == pieces.last?.end {
            report.gaps.append((expected, Double(to - expected) / 1e9))
        }
        report.startNanos = first.start
        report.seconds = Double(time) / Double(first.scan.timescale)
        if let field = first.scan.durationFieldOffset {
            try MP4File.writeDuration(fd: fd, at: field, ticks: time, timescale: first.scan.timescale, path: part)
        }
        guard fdatasync(fd) == 0 else { throw RecordingError(errno: errno, "fdatasync", part) }
        guard rename(part, output) == 0 else { throw RecordingError(errno: errno, "rename", part) }
        done = true
        return report
    }
}
