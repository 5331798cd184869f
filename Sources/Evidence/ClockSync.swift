import CShims
#if canImport(Glibc)
import Glibc
#endif

/// Whether the kernel clock is NTP-synchronised (adjtimex), asked at most every 10 s: a Pi has no
/// battery clock by default, and a verifier should know whether a fragment's time came from NTP.
public final class ClockSync {
    private var cached = false
    private var askedAt: UInt64 = 0
    private var asked = false

    /// A fresh reader.
    public init() {}

    /// True when adjtimex reports a synchronised clock (not TIME_ERROR, STA_UNSYNC clear).
    public func isSynchronised() -> Bool {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let nanos = UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
        if !asked || nanos &- askedAt > 10_000_000_000 {
            cached = blackbox_clock_synchronised() == 1
            askedAt = nanos
            asked = true
        }
        return cached
    }
}
