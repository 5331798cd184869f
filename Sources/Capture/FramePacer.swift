import Frames
import Platform

/// Paces a synthetic source at its frame rate on the monotonic clock: waits for the next slot in
/// short sleeps (so a stop is answered quickly even at 1 fps), and skips the slots a busy machine
/// missed rather than bursting to catch up.
struct FramePacer {
    let period: UInt64
    private let clock: () -> UInt64
    private let sleep: (UInt64) -> Void
    private var deadline: UInt64

    /// A pacer for `fps` frames a second; tests give their own clock and sleep.
    init(fps: Int, clock: @escaping () -> UInt64 = MonotonicClock.nanos, sleep: @escaping (UInt64) -> Void = sleepNanos) {
        period = UInt64(1_000_000_000 / max(1, fps))
        self.clock = clock
        self.sleep = sleep
        deadline = clock()
    }

    /// Waits for the next slot while `running()`; returns the number of slots missed before it, or
    /// nil when stopped.
    mutating func next(while running: () -> Bool) -> UInt64? {
        while running() {
            let now = clock()
            if now < deadline {
                sleep(min(deadline - now, 50_000_000))
                continue
            }
            let behind = (now - deadline) / period
            // A wake-up late in its slot would put the next frame just after this one (once 0.3 ms apart: a player
            // storing milliseconds gave both the same time): frames stay at least half a period apart.
            deadline = max(deadline + (behind + 1) * period, now + period / 2)
            return behind
        }
        return nil
    }
}
