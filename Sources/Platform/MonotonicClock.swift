#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads CLOCK_MONOTONIC.
public enum MonotonicClock {
    /// Nanoseconds since an arbitrary fixed point; never jumps with wall-clock changes.
    @inlinable
    public static func nanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Nanoseconds from `earlier` to `later`, 0 when `earlier` is in fact later. A time read before taking a lock
    /// can be older than one another thread stored under it meanwhile: a wrapping `later &- earlier` then gives
    /// 584 years (once it ended a busy browser's session as "idle for too long").
    @inlinable
    public static func elapsed(from earlier: UInt64, to later: UInt64) -> UInt64 {
        later > earlier ? later - earlier : 0
    }
}
