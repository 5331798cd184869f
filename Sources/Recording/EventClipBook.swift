import Frames
import Platform

/// The rules of a camera's event clips: an event while a clip is open (asked for, or being written) moves that clip's
/// end instead of starting another, up to the clip's longest; a later event starts a new clip; clips asked for in the
/// same second are numbered. Pure bookkeeping, shared by the API's thread and the recorder's writer under its lock.
struct EventClipBook: Sendable {
    /// An event clip asked for or being written.
    struct Plan: Sendable, Equatable {
        /// Path below the recordings root.
        let file: String
        /// Why (the first event's reason).
        let reason: String
        /// Monotonic time of the first event.
        let firstMono: UInt64
        /// Monotonic time the clip ends at (moved by later events).
        var endMono: UInt64
        /// Whether the writer has started it.
        var started = false
    }

    /// Camera id (in the file name).
    let camera: String
    /// Post-roll after each event.
    let postNanos: UInt64
    /// How far past its first event a clip may grow: its longest less its pre-roll.
    let growNanos: UInt64
    /// The newest clip, while it is open to extension; older ones finish on their own.
    private(set) var open: Plan?
    private var lastStamp = ""
    private var counter = 0

    /// The book of a camera recording with `config`'s pre-roll, post-roll and longest clip.
    init(camera: String, config: RecordingConfig) {
        self.camera = camera
        postNanos = UInt64(config.eventPostSeconds * 1e9)
        growNanos = UInt64(config.eventMaxSeconds * 1e9) &- UInt64(config.eventPreSeconds * 1e9)
    }

    /// An event at `now`: the open clip's end moves when it may grow that far, else a new clip is planned.
    /// Returns the clip's file and whether an open clip was extended. A new clip's name says its `kind`.
    mutating func request(reason: String, now: CaptureTime, kind: FileKind = .event) -> (file: String, extended: Bool) {
        let end = now.monotonicNanos + postNanos
        if var clip = open, end <= clip.firstMono + growNanos {
            clip.endMono = max(clip.endMono, end)
            open = clip
            return (clip.file, true)
        }
        let (day, stamp) = LocalTime.stamp(now.wallSeconds)
        counter = lastStamp == stamp ? counter + 1 : 0
        lastStamp = stamp
        let suffix = counter == 0 ? "" : "-\(counter)"
        let file = "events/\(camera)/\(day)/\(stamp)_\(camera)_\(kind.isClip ? kind.rawValue : "event")\(suffix).mp4"
        open = Plan(file: file, reason: reason, firstMono: now.monotonicNanos, endMono: end)
        return (file, false)
    }

    /// The clip asked for and not started yet, marked started (the writer starts it at this frame).
    mutating func startNext() -> Plan? {
        guard let clip = open, !clip.started else { return nil }
        open?.started = true
        return clip
    }

    /// Starting `file` must wait for a keyframe: it is tried again at the next frame.
    mutating func retry(_ file: String) {
        if open?.file == file { open?.started = false }
    }

    /// `file` is no longer open to extension (it failed, or the writer ended its files).
    mutating func close(_ file: String) {
        if open?.file == file { open = nil }
    }

    /// Whether `file`, being written with its end at `end`, ends at a frame captured at `mono`. An open clip's end is
    /// its plan's (events may have moved it: `end` is updated); a clip that ends is closed to extension in the same step.
    mutating func ends(_ file: String, at mono: UInt64, end: inout UInt64) -> Bool {
        guard let clip = open, clip.file == file else { return mono >= end }
        end = clip.endMono
        guard mono >= clip.endMono else { return false }
        open = nil
        return true
    }
}
