import Frames
import Platform

/// Decides from successive readings of every pipeline stage whether one is stuck: it has work, yet its
/// counter has not moved for `allowance`. An idle stage (no JPEG viewer, no motion to analyse) never is.
public struct StallDetector: Sendable {
    /// A stage that has had work and made no progress.
    public struct Stall: Sendable, Equatable {
        /// The stage's name (`front h264 encoder`).
        public var stage: String
        /// Seconds since it last moved (or was last idle).
        public var seconds: Double
    }

    /// How long a busy stage may stand still, in nanoseconds.
    public let allowance: UInt64
    /// Each stage's count at the last check, and since when it has been seen busy at that count.
    private var seen: [String: (count: UInt64, busySince: UInt64?)] = [:]

    /// The least time a stage may stand still, whatever the check interval: a camera that has lost its
    /// signal shows NO SIGNAL once a second, and a 1 fps camera delivers a frame a second.
    public static let minimumAllowance: Duration = .seconds(3)

    /// A detector for checks every `interval`: a stage may stand still for a whole interval, and at least
    /// `minimumAllowance`.
    public init(interval: Duration) {
        allowance = UInt64(max(interval, Self.minimumAllowance) / .nanoseconds(1))
    }

    /// Takes this check's readings at monotonic time `now` and returns the stages stuck since before `now - allowance`.
    public mutating func check(_ readings: [StageProgress], now: UInt64) -> [Stall] {
        var next: [String: (count: UInt64, busySince: UInt64?)] = [:]
        var stalls: [Stall] = []
        for reading in readings {
            guard reading.busy else {
                next[reading.name] = (reading.count, nil)
                continue
            }
            // The clock starts at the first check that finds it busy at this count: work that arrived just
            // before a check is not counted as a whole interval of standing still.
            guard let before = seen[reading.name], before.count == reading.count, let since = before.busySince else {
                next[reading.name] = (reading.count, now)
                continue
            }
            next[reading.name] = before
            let still = now &- since
            if still >= allowance { stalls.append(Stall(stage: reading.name, seconds: Double(still) / 1e9)) }
        }
        // Stages that went away (an encoder stopped) are forgotten; one that comes back starts afresh.
        seen = next
        return stalls
    }
}
