import Platform
import Synchronization

/// Frames per second over the last two seconds.
final class RateMeter: Sendable {
    private let ring = Mutex(Ring())

    private struct Ring {
        var times = [UInt64](repeating: 0, count: 256)
        var next = 0
        var filled = 0
    }

    func tick(_ nanos: UInt64) {
        ring.withLock { r in
            r.times[r.next] = nanos
            r.next = (r.next + 1) % r.times.count
            r.filled = min(r.filled + 1, r.times.count)
        }
    }

    func rate(now: UInt64, window: UInt64 = 2_000_000_000) -> Double {
        let recent = ring.withLock { r in r.times.prefix(r.filled).filter { MonotonicClock.elapsed(from: $0, to: now) <= window } }.sorted()
        guard recent.count >= 2, let first = recent.first, let last = recent.last, last > first else { return 0 }
        return (Double(recent.count - 1) / (Double(last - first) / 1e9) * 10).rounded() / 10
    }
}
