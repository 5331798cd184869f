import Frames
import Platform

/// Paces a synthetic source at its frame rate on the monotonic clock: waits for the next slot in
/// short sleeps (so a stop is answered quickly even at 1 fps), and skips the slots a busy machine
/// missed rather than bursting to catch up.
struct FramePacer {
    let period: UInt64
    private var deadline = MonotonicClock.nanos()

    init(fps: Int) {
        period = UInt64(1_000_000_000 / max(1, fps))
    }

    /// Waits for the next slot while `running()`; returns the number of slots missed before it, or
    /// nil when stopped.
    mutating func next(while running: () -> Bool) -> UInt64? {
        while running() {
            let now = MonotonicClock.nanos()
            if now < deadline {
                sleepNanos(min(deadline - now, 50_000_000))
                continue
            }
            let behind = (now - deadline) / period
            deadline += (behind + 1) * period
            return behind
        }
        return nil
    }
}
