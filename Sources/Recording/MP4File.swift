import Encoding
import Evidence
import Frames
import Platform

#if canImport(Glibc)
import Glibc
import Rules
#endif

/// When fragments are flushed to the storage device with fdatasync.
public enum SyncPolicy: Sendable, Equatable, CustomStringConvertible {
    /// After every fragment: a power cut loses at most the fragment being written.
    case everyFragment
    /// After every N fragments.
    case every(Int)
    /// Never explicitly (the kernel writes back when it likes).
    case never

    /// How the accepted spellings are said in an error.
    public static let allowed = "fragment, never, or a whole number N of fragments"

    /// The policy `text` names, or an error naming the setting, the value and what is allowed.
    public static func parse(_ text: String, name: String) throws(RuleError) -> SyncPolicy {
        guard let policy = SyncPolicy(text) else { throw RuleError(name: name, text: text, allowed: allowed) }
        return policy
    }

    /// Parses `fragment`, `never` or a whole number N.
    public init?(_ text: String) {
        switch text {
        case "fragment", "every": self = .everyFragment
        case "never": self = .never
        default:
            guard let n = Int(text), n >= 1 else { return nil }
            self = n == 1 ? .everyFragment : .every(n)
        }
    }

    /// The spelling `init?(_:)` accepts.
    public var description: String {
        switch self {
        case .everyFragment: return "fragment"
        case .every(let n): return "\(n)"
        case .never: return "never"
        }
    }
}

/// One fragmented MP4 (Motion JPEG or H.264) being written: `.part` while open, renamed when finished.
///
/// Frames are gathered into a fragment of `fragmentNanos`; each fragment (moof + mdat) is written
/// whole with one write and synced per `sync`, so a cut file is readable up to its last fragment.
public final class MP4File {
    let finalPath: String
    let partPath: String
    /// What a file being written carries after its finished name (renamed away once it is finished).
    static let partSuffix = ".part"
    let directory: String
    private let fd: Int32
    private let start: CaptureTime
    /// Picture size of the track (from the first frame).
    let width: Int
    let height: Int
    private let fragmentNanos: UInt64
    private let cadence: FrameCadence
    private let sync: SyncPolicy
    /// Whether samples carry their own sync flags (H.264) or are all sync samples (JPEG).
    private let flagsPerSample: Bool
    private let durationFieldOffset: Int
    /// Frames of the fragment being gathered, with their slot on the track's frame grid.
    private var pending: [(frame: EncodedFrame, slot: Int64)] = []
    /// Frame rate of the grid every sample sits on.
    private let fps: Int64
    private var lastSlot: Int64 = -1
    private var sequence: UInt32 = 0
    /// The fragment's bytes after its pictures: sound, metadata, the signature box (kept for its capacity).
    private var tail: [UInt8] = []
    private var fragmentsSinceSync = 0
    /// Fragments go past the page cache where the file system allows (see `DirectAppender`), each padded to whole blocks.
    private var direct: DirectAppender?
    private(set) var bytesWritten = 0
    private(set) var frames = 0
    private(set) var endTicks: UInt64 = 0
    private let beforeWrite: (Int) throws(RecordingError) -> Void
    /// The hash chain each fragment is signed into (nil: unsigned).
    private let chain: FragmentChain?
    /// The sound track's format (nil: the file has no sound track).
    let audio: AudioFormat?
    /// Sound units of the fragment being gathered (nil: the file has no sound track).
    private var sound: SoundRun?
    /// Whether the file has a timed metadata track.
    let hasMetadata: Bool
    /// Metadata samples not yet written, at their track time (picture ticks from the first picture).
    private var pendingMetadata: [(bytes: [UInt8], at: UInt64)] = []
    /// Where the frames written since the last `takeWritten()` lie in the file (kept only when asked for).
    private var written: [WrittenFrame] = []
    private let keepsOffsets: Bool

    /// A frame written into the file: its capture time, and where its bytes lie.
    struct WrittenFrame {
        let monotonicNanos: UInt64
        let offset: Int
        let count: Int
    }

    /// Creates `finalPath + ".part"` (never overwriting) and writes the init section.
    /// `beforeWrite` is told the size of every write first (retention makes room there, or refuses it by throwing).
    public init(path finalPath: String, first: EncodedFrame, codec: TrackCodec = .mjpeg, audio: AudioFormat? = nil, metadata: Bool = false,
                fragmentNanos: UInt64,
         sync: SyncPolicy, nominalFps: Int, comment: String? = nil, chain: FragmentChain? = nil, keepsOffsets: Bool = false,
         beforeWrite: @escaping (Int) throws(RecordingError) -> Void = { _ in }) throws(RecordingError) {
        self.beforeWrite = beforeWrite
        self.keepsOffsets = keepsOffsets
        self.audio = audio
        hasMetadata = metadata
        self.chain = chain
        self.finalPath = finalPath
        partPath = finalPath + MP4File.partSuffix
        directory = parentFolder(finalPath)
        start = first.time
        sound = audio.map { SoundRun(format: $0, startNanos: first.time.monotonicNanos) }
        width = first.width
        height = first.height
        self.fragmentNanos = fragmentNanos
        self.sync = sync
        fps = Int64(max(1, nominalFps))
        cadence = FrameCadence(fps: nominalFps)
        flagsPerSample = codec != .mjpeg
        try makeDirectories(directory)
        fd = open(partPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RecordingError(errno: errno, "create", partPath) }
        let (bytes, offset) = FragmentedMP4.initSection(codec: codec, width: first.width, height: first.height, audio: audio,
                                                        metadata: metadata, startUTC: first.time.wallSeconds,
                                                    localTime: LocalTime.iso8601(first.time.wallSeconds, millis: first.time.wallNanos / 1_000_000),
                                                    comment: comment)
        durationFieldOffset = offset
        do {
            // The init section ends on a block boundary, where direct appends begin.
            var padded = bytes + [UInt8](repeating: 0, count: DirectAppender.padding(after: bytes.count, minimum: 8))
            padded.withUnsafeMutableBytes { FragmentedMP4.freeBox(UnsafeMutableRawBufferPointer(rebasing: $0[bytes.count...])) }
            try beforeWrite(padded.count)
            try writeAll(fd, padded, path: partPath)
            bytesWritten = padded.count
            direct = DirectAppender(path: partPath, offset: padded.count)
            if sync != .never { _ = fdatasync(fd) }
            syncDirectory(directory)
        } catch {
            close(fd)
            unlink(partPath)
            throw error
        }
    }

    /// Capture time of the first frame.
    var startTime: CaptureTime { start }

    /// The frames written since the last call, in order, and where they lie (empty unless made with `keepsOffsets`).
    func takeWritten() -> [WrittenFrame] {
        defer { written.removeAll(keepingCapacity: true) }
        return written
    }

    /// Seconds of video written or pending.
    var seconds: Double {
        guard let last = pending.last else { return Double(endTicks) / Double(FragmentedMP4.timescale) }
        return Double(ticks(last.slot + 1)) / Double(FragmentedMP4.timescale)
    }

    /// Track time of a slot on the frame grid.
    private func ticks(_ slot: Int64) -> UInt64 {
        UInt64(slot) * FragmentedMP4.timescale / UInt64(fps)
    }

    /// The slot of a frame captured at `mono`: the nearest grid slot to its capture time, but
    /// always after the previous frame's, so decode times strictly increase and every sample
    /// lasts a whole number of frame intervals. Capture jitter (two frames 10 ms apart after a
    /// 56 ms gap) would otherwise give players a wrong rate and non-increasing timestamps.
    /// Nil when the frame would sit more than a second ahead of its capture time (a source
    /// faster than its nominal rate): it is dropped instead of pushing the clock further off.
    private func slot(at mono: UInt64) -> Int64? {
        let elapsed = Int64(bitPattern: mono &- start.monotonicNanos)
        let nearest = (max(0, elapsed) * fps + 500_000_000) / 1_000_000_000
        let slot = max(lastSlot + 1, nearest)
        return slot - nearest > fps ? nil : slot
    }

    /// Adds a frame; writes the pending fragment first when this frame starts a new one (a fragment
    /// starts only at a keyframe, so that each decodes on its own). Returns false when the frame was
    /// dropped: to keep the track on its capture clock, or because a file cannot start without a keyframe.
    @discardableResult
    public func append(_ frame: EncodedFrame) throws(RecordingError) -> Bool {
        guard frames > 0 || !pending.isEmpty || frame.isKeyframe, let slot = slot(at: frame.time.monotonicNanos) else { return false }
        if let first = pending.first, frame.isKeyframe, cadence.reached(frame.time.monotonicNanos &- first.frame.time.monotonicNanos, fragmentNanos) {
            try flush(nextSlot: slot)
        }
        lastSlot = slot
        pending.append((frame, slot))
        return true
    }

    /// Adds a sound unit at its capture time on the file's clock (the first picture's capture is time 0), by the rule of
    /// `SoundRun`; false when it is dropped (units before the file's start belong to the file before).
    @discardableResult
    public func appendAudio(_ unit: EncodedAudio) -> Bool {
        sound?.append(unit) ?? false
    }

    /// Adds a metadata sample at its capture time on the file's clock (always after the one before); samples before the
    /// file's start belong to the file before (returns false).
    @discardableResult
    public func appendMetadata(_ sample: MetadataSample) -> Bool {
        guard hasMetadata, sample.monotonicNanos >= start.monotonicNanos else { return false }
        var at = (sample.monotonicNanos - start.monotonicNanos) * FragmentedMP4.timescale / 1_000_000_000
        if let last = pendingMetadata.last?.at ?? lastMetadataTime, at <= last { at = last + 1 }
        pendingMetadata.append((sample.bytes, at))
        return true
    }

    /// Track time of the last metadata sample written (nil before the first).
    private var lastMetadataTime: UInt64?

    /// The metadata run of a fragment ending at track time `end` (samples after it wait for the next fragment, unless
    /// `all`): each sample lasts until the next, the last until `end`.
    private func metadataRun(until end: UInt64, all: Bool) -> FragmentedMP4.TrackRun {
        let count = all ? pendingMetadata.count : pendingMetadata.prefix { $0.at < end }.count
        let taken = pendingMetadata[..<count]
        var durations: [UInt32] = []
        for i in taken.indices {
            let next = i + 1 < count ? taken[i + 1].at : max(end, taken[i].at + 1)
            durations.append(UInt32(clamping: next - taken[i].at))
        }
        return FragmentedMP4.TrackRun(trackID: FragmentedMP4.metadataTrackID, baseTime: taken.first?.at ?? 0, durations: durations,
                                      sizes: taken.map(\.bytes.count))
    }

    /// Writes the pending frames as one fragment. The last frame lasts until `nextSlot` when known,
    /// else one frame interval.
    func flush(nextSlot: Int64? = nil, final: Bool = false) throws(RecordingError) {
        guard let first = pending.first, let last = pending.last else { return }
        let base = ticks(first.slot)
        var durations: [UInt32] = []
        for i in pending.indices {
            let next = i + 1 < pending.count ? pending[i + 1].slot : (nextSlot ?? last.slot + 1)
            durations.append(UInt32(ticks(next) - ticks(pending[i].slot)))
        }
        sequence += 1
        let end = ticks(nextSlot ?? last.slot + 1)
        var runs = [FragmentedMP4.TrackRun(trackID: 1, baseTime: base, durations: durations, sizes: pending.map(\.frame.bytes.readableBytes),
                                           keyframes: flagsPerSample ? pending.map(\.frame.isKeyframe) : nil)]
        if let sound { runs.append(sound.trackRun) }
        let metadata = hasMetadata ? metadataRun(until: end, all: final) : nil
        if let metadata { runs.append(metadata) }
        let header = FragmentedMP4.fragmentHeader(sequence: sequence, runs: runs)
        // The pictures are hashed and written where the encoder left them (one writev), not copied into one buffer
        // first: for MJPEG that copy was 3.5 MB a second, and the buffer kept as much resident. The small samples after
        // them (sound, metadata) and the signature box are gathered in `tail`.
        tail.removeAll(keepingCapacity: true)
        for unit in sound?.units ?? [] { tail.append(contentsOf: unit.bytes) }
        for sample in pendingMetadata.prefix(metadata?.sizes.count ?? 0) { tail.append(contentsOf: sample.bytes) }
        // Each picture's storage is held while its pointer is in use.
        let pinned = pending.map { $0.frame.bytes.withUnsafeReadableBytesWithStorageManagement { ($0, $1.retain()) } }
        defer { for (_, storage) in pinned { storage.release() } }
        let pictures = pinned.map(\.0)
        if let chain {
            // The link goes out in the same write as its fragment: a cut leaves both or neither whole. It covers every
            // sample of every track in the order of the runs (the picture's, the sound's, the metadata's); samples
            // without their own sync flags count as sync samples.
            let digest = tail.withUnsafeBytes { others in
                FragmentDigest(durations: runs.flatMap(\.durations), keyframes: runs.flatMap { $0.keyframes ?? $0.sizes.map { _ in true } },
                               samples: pictures + FragmentDigest.split(others, sizes: runs.dropFirst().flatMap(\.sizes)))
            }
            let time = first.frame.time
            let link = chain.link(digest, wallStartNanos: Int64(time.wallSeconds) * 1_000_000_000 + Int64(time.wallNanos),
                                  timescale: UInt32(FragmentedMP4.timescale))
            tail.append(contentsOf: FragmentedMP4.signatureBox(link))
        }
        let content = header.count + pictures.reduce(0) { $0 + $1.count } + tail.count
        let padding = direct == nil ? 0 : DirectAppender.padding(after: content, minimum: 8)
        let fragmentBytes = content + padding
        try beforeWrite(fragmentBytes)
        try checkWrite(header.withUnsafeBytes { head in tail.withUnsafeBytes { rest in
            let pieces = [head] + pictures + [rest]
            return direct.map { $0.append(pieces, padding: padding, pad: FragmentedMP4.freeBox) } ?? writeFully(fd, pieces)
        } }, path: partPath)
        if keepsOffsets {
            var offset = bytesWritten + header.count
            for entry in pending {
                written.append(WrittenFrame(monotonicNanos: entry.frame.time.monotonicNanos, offset: offset, count: entry.frame.bytes.readableBytes))
                offset += entry.frame.bytes.readableBytes
            }
        }
        bytesWritten += fragmentBytes
        frames += pending.count
        endTicks = end
        pending.removeAll(keepingCapacity: true)
        sound?.clear()
        if let metadata, !metadata.sizes.isEmpty {
            lastMetadataTime = pendingMetadata[metadata.sizes.count - 1].at
            pendingMetadata.removeFirst(metadata.sizes.count)
        }
        fragmentsSinceSync += 1
        switch sync {
        case .everyFragment: try dataSync()
        case .every(let n) where fragmentsSinceSync >= n: try dataSync()
        default: break
        }
    }

    private func dataSync() throws(RecordingError) {
        fragmentsSinceSync = 0
        guard fdatasync(fd) == 0 else { throw RecordingError(errno: errno, "fdatasync", partPath) }
    }

    /// Writes what is pending, records the duration, syncs, closes and renames to the final name.
    public func finish() throws(RecordingError) -> String {
        defer { close(fd); direct = nil }
        try flush(final: true)
        try MP4File.writeDuration(fd: fd, at: durationFieldOffset, ticks: endTicks, timescale: FragmentedMP4.timescale, path: partPath)
        guard fdatasync(fd) == 0 else { throw RecordingError(errno: errno, "fdatasync", partPath) }
        try renameDurably(fd: fd, from: partPath, to: finalPath, directory: directory)
        return finalPath
    }

    /// Closes without finishing (after a write error); start-up recovery will repair the `.part`.
    func abandon() {
        close(fd)
        direct = nil
    }

    /// Patches the mehd fragment duration (movie timescale, ms).
    static func writeDuration(fd: Int32, at offset: Int, ticks: UInt64, timescale: UInt64, path: String) throws(RecordingError) {
        var w = BoxWriter()
        w.u64(ticks * FragmentedMP4.movieTimescale / max(1, timescale))
        let n = w.bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, 8, off_t(offset)) }
        guard n == 8 else { throw RecordingError(errno: n < 0 ? errno : EIO, "pwrite", path) }
    }
}
