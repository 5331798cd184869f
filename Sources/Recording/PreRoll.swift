import Encoding

/// The last few seconds of encoded frames, kept for event pre-roll (bounded by time, count and bytes).
struct PreRoll {
    let maxNanos: UInt64
    let maxFrames: Int
    let maxBytes: Int
    private(set) var frames: [EncodedFrame] = []
    private var bytes = 0

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
    func clipStart(before frame: EncodedFrame, preNanos: UInt64) -> ArraySlice<EncodedFrame> {
        // Saturating: soon after boot the monotonic clock may not reach back a whole pre-roll.
        let from = frame.time.monotonicNanos > preNanos ? frame.time.monotonicNanos - preNanos : 0
        let start = frames.lastIndex { $0.isKeyframe && $0.time.monotonicNanos <= from }
            ?? frames.firstIndex { $0.isKeyframe } ?? frames.endIndex
        return frames[start...]
    }

    /// Seconds of footage held, oldest frame to newest.
    var seconds: Double {
        guard let first = frames.first, let last = frames.last else { return 0 }
        return Double(last.time.monotonicNanos &- first.time.monotonicNanos) / 1e9
    }

    mutating func append(_ frame: EncodedFrame) {
        frames.append(frame)
        bytes += frame.bytes.readableBytes
        var drop = 0
        while drop < frames.count - 1,
              frames.count - drop > maxFrames || bytes > maxBytes
                || frame.time.monotonicNanos &- frames[drop].time.monotonicNanos > maxNanos {
            bytes -= frames[drop].bytes.readableBytes
            drop += 1
        }
        if drop > 0 { frames.removeFirst(drop) }
    }
}
