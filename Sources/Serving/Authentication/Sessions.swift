import Foundation
import Frames
import Platform
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
    /// Monotonic nanoseconds now (the system's monotonic clock; tests give their own).
    private let clock: @Sendable () -> UInt64

    init(idleSeconds: Double = 7 * 24 * 3600, capacity: Int = 64, clock: @escaping @Sendable () -> UInt64 = MonotonicClock.nanos) {
        self.idleSeconds = idleSeconds
        self.capacity = capacity
        self.clock = clock
    }

    /// Opens a session for `user`; returns its token (256 random bits, hex).
    func open(user: String) -> String {
        var rng = SystemRandomNumberGenerator()
        let token = (0..<4).map { _ in String(format: "%016llx", rng.next() as UInt64) }.joined()
        let now = clock()
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
        let now = clock()
        let idle = UInt64(idleSeconds * 1e9)
        return entries.withLock { table in
            guard var entry = table[token] else { return nil }
            if MonotonicClock.elapsed(from: entry.lastSeen, to: now) > idle {
                table[token] = nil
                return nil
            }
            entry.lastSeen = max(entry.lastSeen, now)
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
