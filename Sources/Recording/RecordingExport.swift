import Encoding
import Evidence
import Frames
import Platform
#if canImport(Glibc)
import Glibc
#endif

/// What an export wrote (or will write).
public struct ExportReport: Sendable {
    /// The file written (empty when streamed).
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

/// One fragment of a recording, placed on the wall clock, and the samples of it to use.
public struct PlacedFragment: Sendable {
    /// The file it is in.
    public let path: String
    /// Its place in the file.
    public let fragment: MP4Scan.Fragment
    /// Codec of its file.
    public let codec: VideoCodec
    /// Wall-clock start of each sample and the end of the last, Unix nanoseconds.
    public let sampleStarts: [Int64]
    /// Samples used (all of them unless an export cut it).
    public var keep: Range<Int>

    /// Wall-clock start of the first sample used.
    public var start: Int64 { sampleStarts[keep.lowerBound] }
    /// Wall-clock end of the last sample used.
    public var end: Int64 { sampleStarts[keep.upperBound] }
    /// Track ticks of the samples used.
    public var ticks: UInt64 { fragment.durations[keep].reduce(0) { $0 + UInt64($1) } }
}

/// A span of a camera's recordings laid out as one fragmented MP4 with no re-encoding: whole fragments
/// (each starts at a keyframe) copied with their signed links, re-timed to follow each other; the first
/// and last may be cut at a frame (H.264: only the end), and then carry a trimmed link that still
/// proves the frames kept. Read by `RecordingExport` into a file, or chunk by chunk into an HTTP body.
public struct ExportPlan: Sendable {
    /// Fragments in play order.
    public let pieces: [PlacedFragment]
    /// What the export holds and lacks.
    public let report: ExportReport
    /// ftyp + moov of the first file, its creation time set to the export's start and its duration to the total.
    let initSection: [UInt8]
    /// Ticks per second of the track.
    let timescale: UInt64
    /// Ticks per second of the first file's other tracks (sound, metadata) by id: their samples are copied, those of a
    /// track the first file lacks are not.
    let trackTimescales: [UInt32: UInt64]

    /// Plans the span [`from`, `to`) (Unix nanoseconds) of `files` (any order; `.part` files up to their last whole fragment).
    /// With `cut`, the first and last fragments are cut at the frames nearest the span's ends.
    public static func plan(files: [String], from: Int64, to: Int64, cut: Bool = true) throws(RecordingError) -> ExportPlan {
        guard to > from else { throw RecordingError("the end must be after the start") }
        var scans: [String: MP4Scan] = [:]
        var pieces: [PlacedFragment] = []
        for path in files {
            guard let scan = try? MP4Reader.scan(path: path), scan.initEnd != nil else { continue }
            scans[path] = scan
            for fragment in scan.fragments {
                let starts = placement(of: fragment, in: scan)
                guard let last = starts.last, last > from, starts[0] < to else { continue }
                pieces.append(PlacedFragment(path: path, fragment: fragment, codec: scan.codec, sampleStarts: starts, keep: 0..<fragment.sizes.count))
            }
        }
        pieces.sort { $0.start < $1.start }
        guard let firstPiece = pieces.first, let firstScan = scans[firstPiece.path] else {
            throw RecordingError("no recording between the asked times")
        }
        var report = ExportReport(output: "")
        // One track has one sample description: stop where the codec or picture size changes.
        if let change = pieces.firstIndex(where: { scans[$0.path]?.sampleDescription != firstScan.sampleDescription }) {
            report.notes.append("the recording changes codec or picture size at \(LocalTime.iso8601(Int(pieces[change].start / 1_000_000_000))); exported up to there")
            pieces.removeSubrange(change...)
        }
        if cut {
            // A frame is kept when it overlaps the span; H.264 keeps the start of the first fragment (its keyframe).
            if firstPiece.codec == .mjpeg, let i = pieces[0].sampleStarts.indices.dropLast().last(where: { pieces[0].sampleStarts[$0] <= from }) {
                pieces[0].keep = i..<pieces[0].keep.upperBound
            }
            let last = pieces.count - 1
            if let j = pieces[last].sampleStarts.indices.dropFirst().first(where: { pieces[last].sampleStarts[$0] >= to }), j > pieces[last].keep.lowerBound {
                pieces[last].keep = pieces[last].keep.lowerBound..<j
            }
        }
        var expected = max(from, pieces[0].start)
        var ticks: UInt64 = 0
        for piece in pieces {
            if piece.start > expected + 1_500_000_000 { report.gaps.append((expected, Double(piece.start - expected) / 1e9)) }
            if piece.fragment.link == nil {
                report.notes.append("a fragment at \(LocalTime.iso8601(Int(piece.start / 1_000_000_000))) is not signed")
            }
            if report.sources.last != piece.path { report.sources.append(piece.path) }
            report.frames += piece.keep.count
            ticks += piece.ticks
            expected = max(expected, piece.end)
        }
        if to > expected + 1_500_000_000 { report.gaps.append((expected, Double(to - expected) / 1e9)) }
        report.fragments = pieces.count
        report.startNanos = pieces[0].start
        report.endNanos = pieces[pieces.count - 1].end
        report.seconds = Double(ticks) / Double(firstScan.timescale)

        let fd = RecordingReadOpen.open(firstPiece.path)
        guard fd >= 0 else { throw RecordingError(errno: errno, "open", firstPiece.path) }
        defer { close(fd) }
        guard var initSection = MP4Reader.read(fd, at: 0, count: firstScan.initEnd!) else { throw RecordingError("\(firstPiece.path): cut short") }
        var w = BoxWriter()
        if let at = firstScan.creationFieldOffset {
            // The export starts when its first frame does: its creation time says so (a verifier compares the two).
            let created = UInt64(max(0, report.startNanos / 1_000_000_000)) + FragmentedMP4.epochOffset
            w.u64(created); w.u64(created)
            initSection.replaceSubrange(at..<at + 16, with: w.bytes)
        }
        if let at = firstScan.durationFieldOffset {
            w = BoxWriter()
            w.u64(ticks * FragmentedMP4.movieTimescale / max(1, firstScan.timescale))
            initSection.replaceSubrange(at..<at + 8, with: w.bytes)
        }
        return ExportPlan(pieces: pieces, report: report, initSection: initSection, timescale: firstScan.timescale,
                          trackTimescales: firstScan.otherTimescales)
    }

    /// Wall-clock start of each sample of `fragment` and the end of its last.
    static func placement(of fragment: MP4Scan.Fragment, in scan: MP4Scan) -> [Int64] {
        var t = scan.wallStart(of: fragment)
        var starts = [t]
        for d in fragment.durations {
            t += Int64(UInt64(d) * 1_000_000_000 / max(1, scan.timescale))
            starts.append(t)
        }
        return starts
    }

    /// Reads the plan's bytes in order: the init section, then each fragment. Not for concurrent use.
    public func reader() -> ExportReader { ExportReader(plan: self) }
}

/// Produces an export's bytes a chunk at a time (blocking reads: call it off the event loop).
public final class ExportReader: @unchecked Sendable {
    private let plan: ExportPlan
    private var next = -1
    private var time: UInt64 = 0
    private var sources: [String: Int32] = [:]

    init(plan: ExportPlan) {
        self.plan = plan
        // Sound captured just before the first picture would sit before time 0, which a track cannot: the pictures
        // start that much later instead, so sound and picture keep their distance.
        if let first = plan.pieces.first, first.keep.count == first.fragment.sizes.count, let s = first.fragment.sound,
           let rate = plan.trackTimescales[s.trackID] {
            let lead = Int64(s.baseTime) - Int64(first.fragment.baseTime * rate / max(1, plan.timescale))
            if lead < 0 { time = (UInt64(-lead) * plan.timescale + rate - 1) / rate }
        }
    }

    deinit {
        for fd in sources.values { close(fd) }
    }

    /// The next chunk (the init section first, then one fragment each); nil at the end.
    public func nextChunk() throws(RecordingError) -> [UInt8]? {
        defer { next += 1 }
        if next < 0 { return plan.initSection }
        guard next < plan.pieces.count else { return nil }
        let piece = plan.pieces[next]
        let f = piece.fragment
        let sizes = f.sizes.map(Int.init)
        let keyframes = f.keyframes.count == sizes.count ? f.keyframes : sizes.map { _ in true }
        let whole = piece.keep.count == sizes.count
        // A whole fragment keeps its other tracks' samples (sound, metadata), at the same distance from its pictures; a cut
        // one leaves them out (the signed order is pictures first, so the kept pictures stay one run the trimmed link can prove).
        let kept = whole ? f.runs.filter { plan.trackTimescales[$0.trackID] != nil } : []
        let others: [FragmentedMP4.TrackRun] = kept.map { r in
            let rate = plan.trackTimescales[r.trackID] ?? plan.timescale
            let lead = Int64(r.baseTime) - Int64(f.baseTime * rate / max(1, plan.timescale))
            let base = max(0, Int64(time * rate / max(1, plan.timescale)) + lead)
            return FragmentedMP4.TrackRun(trackID: r.trackID, baseTime: UInt64(base), durations: r.durations, sizes: r.sizes.map(Int.init))
        }
        let picture = FragmentedMP4.TrackRun(trackID: 1, baseTime: time, durations: Array(f.durations[piece.keep]), sizes: Array(sizes[piece.keep]),
                                             keyframes: piece.codec == .h264 ? Array(keyframes[piece.keep]) : nil)
        let header = FragmentedMP4.fragmentHeader(sequence: UInt32(next + 1), runs: [picture] + others)
        time += piece.ticks
        let payload = try samples(of: piece)
        let skip: Int = sizes[..<piece.keep.lowerBound].reduce(0, +)
        let take: Int = sizes[piece.keep].reduce(0, +)
        var out = header
        out.append(contentsOf: payload[skip..<(skip + take)])
        for r in kept {
            let start = r.dataOffset - f.dataOffset
            out.append(contentsOf: payload[start..<(start + r.sizes.reduce(0) { $0 + Int($1) })])
        }
        if let link = f.link, let linkEnd = f.linkEnd {
            if whole {
                out += try read(piece.path, at: f.end, count: linkEnd - f.end)
            } else {
                // Cut: the left-out samples' rows and hashes (its sound's too) go with the signed link (added to those an
                // earlier cut left out, when this is an export of an export).
                let signed = f.signedSamples
                let (rows, hashes) = payload.withUnsafeBytes {
                    FragmentDigest.samples(durations: signed.durations, sizes: signed.sizes, keyframes: signed.keyframes, bytes: $0)
                }
                let head = piece.keep.lowerBound, tail = piece.keep.upperBound
                let prior = f.trim ?? TrimmedLink(link: link, firstKept: 0, originalCount: rows.count, removedRows: [], removedHashes: [])
                let trimmed = TrimmedLink(
                    link: link, firstKept: prior.firstKept + head, originalCount: prior.originalCount,
                    removedRows: Array(prior.removedRows[..<prior.firstKept]) + Array(rows[..<head]) + Array(rows[tail...]) + Array(prior.removedRows[prior.firstKept...]),
                    removedHashes: Array(prior.removedHashes[..<prior.firstKept]) + Array(hashes[..<head]) + Array(hashes[tail...])
                        + Array(prior.removedHashes[prior.firstKept...]))
                out += FragmentedMP4.trimmedSignatureBox(trimmed)
            }
        }
        return out
    }

    /// The sample bytes of `piece`'s whole fragment: its pictures', then its sound's.
    public func samples(of piece: PlacedFragment) throws(RecordingError) -> [UInt8] {
        try read(piece.path, at: piece.fragment.dataOffset, count: piece.fragment.signedSamples.sizes.reduce(0, +))
    }

    private func read(_ path: String, at offset: Int, count: Int) throws(RecordingError) -> [UInt8] {
        let fd = sources[path] ?? RecordingReadOpen.open(path)
        guard fd >= 0 else { throw RecordingError(errno: errno, "open", path) }
        sources[path] = fd
        guard let bytes = MP4Reader.read(fd, at: offset, count: count) else { throw RecordingError("\(path): shorter than its index says") }
        return bytes
    }
}

/// Writes an export plan to a file (`blackbox recordings export`).
public enum RecordingExport {
    /// Exports the span [`from`, `to`) (Unix nanoseconds) of `files` into `output`.
    public static func export(files: [String], from: Int64, to: Int64, output: String) throws(RecordingError) -> ExportReport {
        let plan = try ExportPlan.plan(files: files, from: from, to: to)
        let part = output + ".part"
        let fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RecordingError(errno: errno, "create", part) }
        var done = false
        defer {
            close(fd)
            if !done { unlink(part) }
        }
        let reader = plan.reader()
        while let chunk = try reader.nextChunk() { try writeAll(fd, chunk, path: part) }
        guard fdatasync(fd) == 0 else { throw RecordingError(errno: errno, "fdatasync", part) }
        let folder = parentFolder(output)
        try renameDurably(fd: fd, from: part, to: output, directory: folder.isEmpty ? "." : folder)
        done = true
        var report = plan.report
        report.output = output
        return report
    }
}
