/// When an interval counted in capture time (a keyframe's, a fragment's, a segment's) is over. Capture times jitter
/// around the nominal frame interval: thirty frames at 30 fps may span 999.9 ms. Half a frame of tolerance ends the
/// interval at the frame that is nominally due, not one frame later (which, for H.264, is a whole keyframe later).
public struct FrameCadence: Sendable, Equatable {
    /// Half the nominal frame interval, in nanoseconds.
    public let halfFrameNanos: UInt64

    /// The cadence of a camera delivering `fps` frames a second.
    public init(fps: Int) {
        halfFrameNanos = 500_000_000 / UInt64(max(1, fps))
    }

    /// Whether `elapsed` nanoseconds reach `interval`, within half a frame.
    public func reached(_ elapsed: UInt64, _ interval: UInt64) -> Bool {
        elapsed &+ halfFrameNanos >= interval
    }
}
