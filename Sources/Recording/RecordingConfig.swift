import Encoding
import Rules

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

    /// Segment length, seconds.
    public static let segmentRule = RangeRule(1.0...3600.0, allowed: "1 to 3600")
    /// Fragment length, seconds (and never longer than the segment).
    public static let fragmentRule = RangeRule(0.1...3600.0, allowed: "0.1 up to the segment length")
    /// Event clip pre-roll, seconds.
    public static let eventPreRule = RangeRule(0.0...300.0, allowed: "0 to 300")
    /// Event clip post-roll, seconds.
    public static let eventPostRule = RangeRule(0.0...3600.0, allowed: "0 to 3600")
    /// The event clips' share of the quota, percent.
    public static let eventQuotaRule = RangeRule(1.0...99.0, allowed: "1 to 99")
    /// Longest event clip, seconds (and at least the pre-roll plus the post-roll).
    public static let eventMaxRule = RangeRule(0.0...7200.0, allowed: "the pre-roll plus the post-roll, up to 7200")

    /// Throws a message naming the first setting out of range.
    public func validate() throws(RecordingError) {
        do throws(RuleError) {
            try Self.segmentRule.check(segmentSeconds, name: "segment length")
            guard fragmentSeconds <= segmentSeconds else {
                throw RuleError("fragment length \(fragmentSeconds) is out of range; allowed: \(Self.fragmentRule.allowed)")
            }
            try Self.fragmentRule.check(fragmentSeconds, name: "fragment length")
            try Self.eventPreRule.check(eventPreSeconds, name: "event pre-roll")
            try Self.eventPostRule.check(eventPostSeconds, name: "event post-roll")
            try Self.eventQuotaRule.check(eventShare * 100, name: "event quota")
            guard eventMaxSeconds >= eventPreSeconds + eventPostSeconds else {
                throw RuleError("event clip maximum \(eventMaxSeconds) is out of range; allowed: \(Self.eventMaxRule.allowed) (\(eventPreSeconds + eventPostSeconds) to 7200)")
            }
            try Self.eventMaxRule.check(eventMaxSeconds, name: "event clip maximum")
        } catch {
            throw RecordingError(error.description)
        }
    }
}
