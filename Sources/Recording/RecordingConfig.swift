import Encoding

/// Recording settings shared by every camera.
public struct RecordingConfig: Sendable, Equatable {
    /// Folder holding `<camera>/<day>/…mp4` and `events/<camera>/<day>/…mp4`.
    public var root = "recordings"
    /// Whether recording starts at launch.
    public var enabled = true
    /// Length of a segment.
    public var segmentSeconds = 60.0
    /// Length of a fragment (the most a power cut can lose).
    public var fragmentSeconds = 1.0
    /// When fragments are synced to the device.
    public var sync = SyncPolicy.everyFragment
    /// Quota of the whole recordings root.
    public var quota = Quota.percent(50)
    /// Free space always kept on the filesystem.
    public var minFreeBytes = 256 << 20
    /// Event clip pre-roll.
    public var eventPreSeconds = 10.0
    /// Event clip post-roll.
    public var eventPostSeconds = 20.0
    /// Share of the quota for event clips.
    public var eventShare = 0.3
    /// Longest an event clip grows when more events extend it; a later event starts a new clip.
    public var eventMaxSeconds = 300.0
    /// The codec recordings are written in: H.264, measured at a sixth to a seventh of MJPEG's bytes
    /// for about 1.6x the daemon's CPU at 720p30 with nobody watching (bench/codecs.sh, bench/daemon_cpu.sh).
    public var codec = VideoCodec.h264
    /// What is recorded: everything, only event clips (motion and requests), or nothing.
    public var mode = RecordingMode.continuous

    /// Defaults: 60 s segments, 1 s fragments synced each, 50 % quota, 10 s + 20 s events.
    public init() {}

    /// Throws a message naming the first setting out of range.
    public func validate() throws(RecordingError) {
        guard (1...3600).contains(segmentSeconds) else { throw RecordingError("segment length \(segmentSeconds) s is out of range; allowed: 1 to 3600") }
        guard fragmentSeconds >= 0.1, fragmentSeconds <= segmentSeconds else {
            throw RecordingError("fragment length \(fragmentSeconds) s is out of range; allowed: 0.1 s up to the segment length")
        }
        guard (0...300).contains(eventPreSeconds), (0...3600).contains(eventPostSeconds) else {
            throw RecordingError("event pre-roll must be 0 to 300 s and post-roll 0 to 3600 s")
        }
        guard eventMaxSeconds >= eventPreSeconds + eventPostSeconds, eventMaxSeconds <= 7200 else {
            throw RecordingError("event clip maximum \(eventMaxSeconds) s is out of range; allowed: pre-roll + post-roll (\(eventPreSeconds + eventPostSeconds) s) to 7200")
        }
        guard eventShare > 0, eventShare < 1 else { throw RecordingError("event share \(eventShare) is out of range; allowed: above 0 and below 1") }
    }
}
