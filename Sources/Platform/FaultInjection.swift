import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Faults the real parts cannot produce on demand, for tests of the daemon's supervision only.
/// Set with `BLACKBOX_FAULT_INJECT=stall-STAGE-after=SECONDS[,…]`; never set in normal use.
public enum FaultInjection {
    /// The stages a hang can be injected into, each named after the thread that hangs.
    public enum Stage: String, Sendable, CaseIterable {
        /// The capture loop of a test-pattern camera.
        case capture
        /// The JPEG encoder threads.
        case jpeg
        /// The H.264 encoder thread.
        case h264
        /// The motion detector's thread.
        case motion
        /// The recorder's writer thread.
        case recorder
    }

    /// Seconds after which each stage hangs, from the environment.
    static let stalls: [Stage: Double] = parse(getenv("BLACKBOX_FAULT_INJECT").map { String(cString: $0) } ?? "")

    /// `stall-capture-after=3,stall-h264-after=2` → [.capture: 3, .h264: 2]; unknown entries are ignored.
    static func parse(_ value: String) -> [Stage: Double] {
        var out: [Stage: Double] = [:]
        for entry in value.split(separator: ",") {
            let parts = entry.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, parts[0].hasPrefix("stall-"), parts[0].hasSuffix("-after"),
                  let seconds = Double(parts[1]) else { continue }
            let name = parts[0].dropFirst("stall-".count).dropLast("-after".count)
            if let stage = Stage(rawValue: String(name)) { out[stage] = seconds }
        }
        return out
    }

    /// A hang due `stage` seconds after now, or nil when none is injected (the normal case).
    public static func stall(_ stage: Stage) -> InjectedStall? {
        stalls[stage].map { InjectedStall(at: MonotonicClock.nanos() + UInt64(max(0, $0) * 1e9)) }
    }
}

/// A hang injected into one thread's loop: once due, `hold` keeps the thread from working.
public struct InjectedStall: Sendable {
    /// Monotonic time from which the thread hangs.
    public let at: UInt64

    /// Whether the hang has begun.
    public var isDue: Bool { MonotonicClock.nanos() >= at }

    /// Once due, sleeps in 50 ms steps while `alive()` holds, so the owner can still be stopped.
    public func hold(while alive: () -> Bool) {
        while isDue && alive() { sleepNanos(50_000_000) }
    }
}
