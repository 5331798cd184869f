import CShims
import Synchronization
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

    /// CLOCK_MONOTONIC of the GPS's last report whose time agreed with the system clock within a second (0: never).
    private static let gpsAgreement = Atomic<UInt64>(0)

    /// Notes that the GPS's time agreed with the system clock (a car has no network time: this is how its clock is checked).
    public static func noteGPSAgreement(atMonotonic nanos: UInt64) {
        gpsAgreement.store(nanos, ordering: .relaxed)
    }

    /// Whether the GPS agreed with the system clock in the last 10 s.
    public static func isCheckedByGPS() -> Bool {
        let at = gpsAgreement.load(ordering: .relaxed)
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return at > 0 && UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec) &- at < 10_000_000_000
    }

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
