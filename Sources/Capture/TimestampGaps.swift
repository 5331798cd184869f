/// Frames a camera skipped, told by the gaps between its frames' timestamps: what rpicam-vid writes with `--save-pts`
/// ("# timecode format v2", then one line per frame with its sensor time in milliseconds, "1033.367"). A frame
/// rpicam-vid could not hand on (its reader slow, its buffers all taken) never gets a line, so the next one comes two
/// or more frame intervals later.
struct TimestampGaps {
    /// The asked frame interval, milliseconds.
    private let askedMillis: Double
    /// The shortest interval seen: a sensor that cannot reach the asked rate runs at its own, and its steady interval
    /// is no gap.
    private var shortest = Double.infinity
    private var last: Double?
    private var line: [UInt8] = []

    /// Gaps in a stream of frames asked at `fps`.
    init(fps: Int) {
        askedMillis = 1000 / Double(max(1, fps))
    }

    /// Reads more of the timestamp stream; returns the frames found missing in it.
    mutating func feed(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var missing: UInt64 = 0
        for byte in bytes {
            guard byte == 0x0A else {
                if line.count < 64 { line.append(byte) }  // a timestamp is short; anything longer is not one
                continue
            }
            if let time = Double(String(decoding: line, as: UTF8.self)) { missing += frame(at: time) }
            line.removeAll(keepingCapacity: true)
        }
        return missing
    }

    /// Takes one frame's time; returns how many frames are missing before it.
    private mutating func frame(at time: Double) -> UInt64 {
        defer { last = time }
        guard let last, time > last else { return 0 }  // the first, or a restarted clock
        let gap = time - last
        shortest = min(shortest, gap)
        let interval = max(askedMillis, shortest)
        // Half an interval of tolerance: a sensor's timestamps jitter by microseconds, never by half a frame.
        guard gap > interval * 1.5 else { return 0 }
        return UInt64((gap / interval).rounded()) - 1
    }
}
