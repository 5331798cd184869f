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

/// Failed logins per client address: after `limit` failures within `windowSeconds` the address
/// is refused until the oldest failure leaves the window. Bounded to `capacity` addresses.
final class LoginThrottle: Sendable {
    let limit: Int
    let windowSeconds: Double
    let capacity: Int
    private let failures = Mutex<[String: [UInt64]]>([:])

    init(limit: Int = 5, windowSeconds: Double = 300, capacity: Int = 4096) {
        self.limit = limit
        self.windowSeconds = windowSeconds
        self.capacity = capacity
    }

    private var window: UInt64 { UInt64(windowSeconds * 1e9) }

    /// Seconds `client` must wait before it may try again; nil when it may try now.
    func retryAfter(_ client: String) -> Int? {
        let now = MonotonicClock.nanos()
        return failures.withLock { table in
            guard let times = table[client] else { return nil }
            let recent = times.filter { now &- $0 < window }
            table[client] = recent.isEmpty ? nil : recent
            guard recent.count >= limit, let oldest = recent.first else { return nil }
            return max(1, Int(((Double(window) - Double(now &- oldest)) / 1e9).rounded(.up)))
        }
    }

    /// Records a failed attempt from `client`.
    func fail(_ client: String) {
        let now = MonotonicClock.nanos()
        failures.withLock { table in
            if table[client] == nil, table.count >= capacity {
                // Forget addresses whose failures have all left the window, else the quietest one.
                table = table.filter { now &- ($0.value.last ?? 0) < window }
                if table.count >= capacity, let quiet = table.min(by: { ($0.value.last ?? 0) < ($1.value.last ?? 0) })?.key {
                    table[quiet] = nil
                }
            }
            table[client, default: []].append(now)
            if table[client]!.count > limit { table[client]!.removeFirst() }
        }
    }

    /// Forgets `client`'s failures after a successful login.
    func succeed(_ client: String) {
        failures.withLock { $0[client] = nil }
    }
}
