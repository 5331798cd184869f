import Encoding
import NIOCore

/// The last few seconds of encoded frames, kept for event pre-roll (bounded by time, count and bytes). A frame the
/// segment has written is read back from the file when a clip needs it: only the fragment not yet written stays in
/// memory (an MJPEG pre-roll of 10 s at 720p30 was 37 MB).
struct PreRoll {
    /// A frame of the ring: in memory, or its bytes in a segment file (the frame then holds no bytes).
    struct Held {
        let frame: EncodedFrame
        let file: SegmentReadBack?
        let offset: Int
        let count: Int

        /// The frame with its bytes (read back from the file), nil when the file no longer holds them.
        func materialized() -> EncodedFrame? {
            guard let file else { return frame }
            guard let bytes = file.read(offset: offset, count: count) else { return nil }
            return frame.with(bytes: bytes)
        }
    }

    let maxNanos: UInt64
    let maxFrames: Int
    let maxBytes: Int
    private(set) var frames: [Held] = []
    /// Bytes of the frames held in memory.
    private(set) var bytes = 0

    init(maxNanos: UInt64, maxFrames: Int, maxBytes: Int) {
        self.maxNanos = maxNanos
        self.maxFrames = maxFrames
        self.maxBytes = maxBytes
    }

    /// The ring event clips need: it reaches one fragment further back than the pre-roll, so that a clip can start at
    /// the keyframe before the pre-roll's start (H.264 has one per fragment; every JPEG is one).
    static func forClips(config: RecordingConfig, fps: Int) -> PreRoll {
        let seconds = config.eventPreSeconds + config.fragmentSeconds
        return PreRoll(maxNanos: UInt64(seconds * 1e9), maxFrames: max(1, Int(Double(fps) * seconds) + fps), maxBytes: 512 << 20)
    }

    /// The frames a clip asked for at `frame` starts with: from the last keyframe at or before `preNanos` earlier (the
    /// first keyframe kept when the ring does not reach that far); empty when the ring holds no keyframe.
    func clipStart(before frame: EncodedFrame, preNanos: UInt64) -> ArraySlice<Held> {
        // Saturating: soon after boot the monotonic clock may not reach back a whole pre-roll.
        let from = frame.time.monotonicNanos > preNanos ? frame.time.monotonicNanos - preNanos : 0
        let start = frames.lastIndex { $0.frame.isKeyframe && $0.frame.time.monotonicNanos <= from }
            ?? frames.firstIndex { $0.frame.isKeyframe } ?? frames.endIndex
        return frames[start...]
    }

    /// Seconds of footage held, oldest frame to newest.
    var seconds: Double {
        guard let first = frames.first, let last = frames.last else { return 0 }
        return Double(last.frame.time.monotonicNanos &- first.frame.time.monotonicNanos) / 1e9
    }

    /// Capture time of the oldest frame held.
    var oldestNanos: UInt64? { frames.first?.frame.time.monotonicNanos }

    mutating func append(_ frame: EncodedFrame) {
        frames.append(Held(frame: frame, file: nil, offset: 0, count: frame.bytes.readableBytes))
        bytes += frame.bytes.readableBytes
        var drop = 0
        while drop < frames.count - 1,
              frames.count - drop > maxFrames || bytes > maxBytes
                || frame.time.monotonicNanos &- frames[drop].frame.time.monotonicNanos > maxNanos {
            if frames[drop].file == nil { bytes -= frames[drop].count }
            drop += 1
        }
        if drop > 0 { frames.removeFirst(drop) }
    }

    /// The segment `file` has written `written` (in capture order): those frames give their bytes up and are read
    /// back from the file when a clip needs them.
    mutating func spill(_ written: [MP4File.WrittenFrame], to file: SegmentReadBack) {
        var index = frames.endIndex
        for sample in written.reversed() {
            // Newest first: the frames just written are the newest the ring holds.
            guard let found = frames[..<index].lastIndex(where: { $0.frame.time.monotonicNanos == sample.monotonicNanos }) else { continue }
            index = found
            let held = frames[found]
            guard held.file == nil, held.count == sample.count else { continue }
            frames[found] = Held(frame: held.frame.with(bytes: ByteBuffer()), file: file, offset: sample.offset, count: sample.count)
            bytes -= sample.count
        }
    }
}
