import Platform
import Synchronization

/// Failed logins per client address (web UI, API and RTSP). The first `free` failures cost nothing; after them every
/// attempt from that address must wait `spacing` seconds after the previous failure. An attacker
/// gets a few guesses a minute, while the owner typing the right password waits seconds at most,
/// never minutes (also behind a proxy where everybody shares one address). Failures are
/// forgotten after `memorySeconds`; the table holds at most `capacity` addresses.
public final class LoginThrottle: Sendable {
    /// Failures that cost nothing.
    public let free: Int
    /// Seconds between attempts after them.
    public let spacing: Double
    /// Seconds after which failures are forgotten.
    public let memorySeconds: Double
    /// Addresses remembered at most.
    public let capacity: Int
    private let failures = Mutex<[String: (count: Int, last: UInt64)]>([:])
    /// Monotonic nanoseconds now (the system's monotonic clock; tests give their own).
    private let clock: @Sendable () -> UInt64

    /// A throttle with these limits.
    public init(free: Int = 3, spacing: Double = 12, memorySeconds: Double = 600, capacity: Int = 4096,
                clock: @escaping @Sendable () -> UInt64 = MonotonicClock.nanos) {
        self.clock = clock
        self.free = free
        self.spacing = spacing
        self.memorySeconds = memorySeconds
        self.capacity = capacity
    }

    /// Seconds `client` must wait before it may try again; nil when it may try now.
    public func retryAfter(_ client: String) -> Int? {
        let now = clock()
        return failures.withLock { table in
            guard let entry = table[client] else { return nil }
            let age = Double(MonotonicClock.elapsed(from: entry.last, to: now)) / 1e9
            if age > memorySeconds {
                table[client] = nil
                return nil
            }
            guard entry.count >= free, age < spacing else { return nil }
            return max(1, Int((spacing - age).rounded(.up)))
        }
    }

    /// Records a failed attempt from `client`.
    public func fail(_ client: String) {
        let now = clock()
        failures.withLock { table in
            if table[client] == nil, table.count >= capacity {
                // Forget addresses whose failures are old, else the quietest one.
                table = table.filter { Double(MonotonicClock.elapsed(from: $0.value.last, to: now)) / 1e9 < memorySeconds }
                if table.count >= capacity, let quiet = table.min(by: { $0.value.last < $1.value.last })?.key {
                    table[quiet] = nil
                }
            }
            table[client] = (count: (table[client]?.count ?? 0) + 1, last: now)
        }
    }

    /// Forgets `client`'s failures after a successful login.
    public func succeed(_ client: String) {
        failures.withLock { $0[client] = nil }
    }
}
