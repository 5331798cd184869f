import Foundation
import Frames
import Synchronization

/// Logged-in browser sessions, in memory: a restart logs everyone out, and nothing secret is
/// written to the card. Bounded: the oldest session goes when a new one would exceed the limit.
final class SessionTable: Sendable {
    /// Cookie that carries the session token.
    static let cookieName = "blackbox_session"
    /// A session ends after this long without a request.
    let idleSeconds: Double
    /// Most sessions kept at once.
    let capacity: Int

    private struct Entry {
        var user: String
        var lastSeen: UInt64
    }

    private let entries = Mutex<[String: Entry]>([:])

    init(idleSeconds: Double = 7 * 24 * 3600, capacity: Int = 64) {
        self.idleSeconds = idleSeconds
        self.capacity = capacity
    }

    /// Opens a session for `user`; returns its token (256 random bits, hex).
    func open(user: String) -> String {
        var rng = SystemRandomNumberGenerator()
        let token = (0..<4).map { _ in String(format: "%016llx", rng.next() as UInt64) }.joined()
        let now = MonotonicClock.nanos()
        entries.withLock { table in
            if table.count >= capacity, let oldest = table.min(by: { $0.value.lastSeen < $1.value.lastSeen })?.key {
                table[oldest] = nil
            }
            table[token] = Entry(user: user, lastSeen: now)
        }
        return token
    }

    /// The user of a live session, refreshing its idle timer; nil for an unknown or expired token.
    func user(for token: String) -> String? {
        let now = MonotonicClock.nanos()
        let idle = UInt64(idleSeconds * 1e9)
        return entries.withLock { table in
            guard var entry = table[token] else { return nil }
            if now &- entry.lastSeen > idle {
                table[token] = nil
                return nil
            }
            entry.lastSeen = now
            table[token] = entry
            return entry.user
        }
    }

    /// Ends a session.
    func close(_ token: String) {
        entries.withLock { $0[token] = nil }
    }

    /// Sessions open now.
    var count: Int { entries.withLock { $0.count } }
}

/// Failed logins per client address. The first `free` failures cost nothing; after them every
/// attempt from that address must wait `spacing` seconds after the previous failure. An attacker
/// gets a few guesses a minute, while the owner typing the right password waits seconds at most,
/// never minutes (also behind a proxy where everybody shares one address). Failures are
/// forgotten after `memorySeconds`; the table holds at most `capacity` addresses.
final class LoginThrottle: Sendable {
    let free: Int
    let spacing: Double
    let memorySeconds: Double
    let capacity: Int
    private let failures = Mutex<[String: (count: Int, last: UInt64)]>([:])

    init(free: Int = 3, spacing: Double = 12, memorySeconds: Double = 600, capacity: Int = 4096) {
        self.free = free
        self.spacing = spacing
        self.memorySeconds = memorySeconds
        self.capacity = capacity
    }

    /// Seconds `client` must wait before it may try again; nil when it may try now.
    func retryAfter(_ client: String) -> Int? {
        let now = MonotonicClock.nanos()
        return failures.withLock { table in
            guard let entry = table[client] else { return nil }
            let age = Double(now &- entry.last) / 1e9
            if age > memorySeconds {
                table[client] = nil
                return nil
            }
            guard entry.count >= free, age < spacing else { return nil }
            return max(1, Int((spacing - age).rounded(.up)))
        }
    }

    /// Records a failed attempt from `client`.
    func fail(_ client: String) {
        let now = MonotonicClock.nanos()
        failures.withLock { table in
            if table[client] == nil, table.count >= capacity {
                // Forget addresses whose failures are old, else the quietest one.
                table = table.filter { Double(now &- $0.value.last) / 1e9 < memorySeconds }
                if table.count >= capacity, let quiet = table.min(by: { $0.value.last < $1.value.last })?.key {
                    table[quiet] = nil
                }
            }
            table[client] = (count: (table[client]?.count ?? 0) + 1, last: now)
        }
    }

    /// Forgets `client`'s failures after a successful login.
    func succeed(_ client: String) {
        failures.withLock { $0[client] = nil }
    }
}
