import Frames
import Platform
import NIOCore
import Synchronization

/// Every open client connection, with the caps of `ConnectionLimits`: a new connection first
/// displaces the oldest connection that is only waiting (for a request head or between requests),
/// so a real request always wins over sockets that never send one.
public final class ConnectionRegistry: Sendable {
    /// The caps in force.
    public let limits: ConnectionLimits

    private struct Entry {
        let channel: any Channel
        let client: String
        /// Not being answered now: waiting for a request head (first or next).
        var waiting: Bool
        /// When it started waiting (monotonic ns); the oldest waiting connection goes first.
        var since: UInt64
    }

    private let entries = Mutex<[ObjectIdentifier: Entry]>([:])
    /// Connections accepted since start.
    public let accepted = Atomic<UInt64>(0)
    /// Connections refused at once because every open one was busy being answered.
    public let refused = Atomic<UInt64>(0)
    /// Waiting connections closed to make room for a newer one.
    public let evicted = Atomic<UInt64>(0)
    /// Connections closed by a time-out (head, idle, body or stalled write).
    public let timedOut = Atomic<UInt64>(0)

    /// Creates an empty registry.
    public init(limits: ConnectionLimits) {
        self.limits = limits
    }

    /// Connections open now.
    public var count: Int { entries.withLock { $0.count } }

    /// Admits `channel` from `client`, closing the connections it displaces; false when it must be refused.
    func admit(_ channel: any Channel, client: String, now: UInt64 = MonotonicClock.nanos()) -> Bool {
        let grace = UInt64(max(0, limits.waitingGrace.nanoseconds))
        let outcome = entries.withLock { table -> (admitted: Bool, victims: [any Channel]) in
            var victims: [ObjectIdentifier] = []
            func oldestWaiting(_ match: (Entry) -> Bool) -> ObjectIdentifier? {
                table.filter { $0.value.waiting && match($0.value) && !victims.contains($0.key) }
                    .min { $0.value.since < $1.value.since }?.key
            }
            let waitingHere = table.values.filter { $0.waiting && $0.client == client }.count
            // Only connections past their grace count against the address's cap; younger ones are spared.
            if waitingHere >= limits.maxWaitingPerClient,
               let victim = oldestWaiting({ $0.client == client && MonotonicClock.elapsed(from: $0.since, to: now) >= grace }) {
                victims.append(victim)
            }
            if table.count - victims.count >= limits.maxConnections {
                guard let victim = oldestWaiting({ _ in true }) else { return (false, []) }
                victims.append(victim)
            }
            let channels = victims.compactMap { table.removeValue(forKey: $0)?.channel }
            table[ObjectIdentifier(channel)] = Entry(channel: channel, client: client, waiting: true, since: now)
            return (true, channels)
        }
        if outcome.admitted {
            accepted.add(1, ordering: .relaxed)
            evicted.add(UInt64(outcome.victims.count), ordering: .relaxed)
        } else {
            refused.add(1, ordering: .relaxed)
        }
        for victim in outcome.victims { victim.close(promise: nil) }
        return outcome.admitted
    }

    /// Marks `channel` as waiting for a request (true) or being answered (false).
    func setWaiting(_ channel: any Channel, _ waiting: Bool, now: UInt64 = MonotonicClock.nanos()) {
        entries.withLock { table in
            guard table[ObjectIdentifier(channel)]?.waiting != waiting else { return }
            table[ObjectIdentifier(channel)]?.waiting = waiting
            table[ObjectIdentifier(channel)]?.since = now
        }
    }

    /// Forgets a closed connection.
    func remove(_ channel: any Channel) {
        _ = entries.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// What `/api/status` shows.
    public struct Snapshot: Codable, Sendable, Equatable {
        /// Open now.
        public var open: Int
        /// The cap on open connections.
        public var limit: Int
        /// Accepted since start.
        public var accepted: UInt64
        /// Refused at once (every open one busy).
        public var refused: UInt64
        /// Closed to make room for a newer one.
        public var evicted: UInt64
        /// Closed by a time-out.
        public var timedOut: UInt64
    }

    /// The counters now.
    public func snapshot() -> Snapshot {
        Snapshot(open: count, limit: limits.maxConnections, accepted: accepted.load(ordering: .relaxed),
                 refused: refused.load(ordering: .relaxed), evicted: evicted.load(ordering: .relaxed),
                 timedOut: timedOut.load(ordering: .relaxed))
    }
}
