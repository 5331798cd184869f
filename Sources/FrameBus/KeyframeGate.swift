import Encoding

/// Which H.264 frames a live consumer may pass on: none before the first keyframe, and after a gap (a frame
/// skipped by the bus or dropped on the way) none until the next keyframe, since the pictures after a gap
/// refer to ones the client never got. H.264 frames are numbered in stream order, so a gap is a missing number.
public struct KeyframeGate: Sendable {
    private var last: UInt64?
    private var waiting = true

    /// Waiting for the first keyframe.
    public init() {}

    /// Whether `frame` goes out; a frame already seen (asked again before a newer came) does not.
    public mutating func admit(_ frame: EncodedFrame) -> Bool {
        if let last, frame.sequence <= last { return false }
        if let last, frame.sequence != last &+ 1 { waiting = true }
        last = frame.sequence
        if waiting {
            guard frame.isKeyframe else { return false }
            waiting = false
        }
        return true
    }

    /// A frame that was admitted could not be delivered: wait for the next keyframe.
    public mutating func lost() {
        waiting = true
    }
}
