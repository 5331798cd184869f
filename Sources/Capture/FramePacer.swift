import Frames
import Platform

/// Paces a synthetic source at its frame rate on the monotonic clock: waits for the next slot in
/// short sleeps (so a stop is answered quickly even at 1 fps), and skips the slots a busy machine
/// missed rather than bursting to catch up.
struct FramePacer {
    /// A slot the pacer reached: when it was due, and how many slots before it were missed.
    struct Slot: Equatable {
        /// Monotonic nanoseconds the slot was due: the frame's capture time, as a camera's sensor would give it.
        let due: UInt64
        /// Slots missed just before this one.
        let missed: UInt64
    }

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

    /// Waits for the next slot while `running()`; nil when stopped.
    ///
    /// Frames are stamped with their slot's time, not the wake-up's: a thread woken late in its slot (a busy machine)
    /// still gives frames exactly a period apart. Stamped when woken, two frames once came 0.3 ms apart, and a late
    /// one within half a period of the next, which players and muxers counting in frames took for the same frame.
    mutating func next(while running: () -> Bool) -> Slot? {
        while running() {
            let now = clock()
            if now < deadline {
                sleep(min(deadline - now, 50_000_000))
                continue
            }
            let missed = (now - deadline) / period
            let due = deadline + missed * period
            deadline = due + period
            return Slot(due: due, missed: missed)
        }
        return nil
    }
}
