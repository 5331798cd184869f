import Frames
import Platform
import Synchronization

/// Which kind of live stream a client gets.
public enum LiveKind: String, Codable, Sendable {
    /// Motion JPEG (`/stream`).
    case mjpeg
    /// H.264 in fragmented MP4 (`/stream.mp4`, the web UI's Media Source Extensions player).
    case h264
    /// H.264 over RTSP (RTP over TCP or UDP), for NVRs and players.
    case rtsp
}

/// What `/api/status` reports of one live client.
public struct LiveClientStatus: Codable, Sendable {
    /// Motion JPEG or H.264.
    public var kind: LiveKind
    /// Bytes per second sent over the last two seconds or so.
    public var bytesPerSecond: Double
    /// Bytes sent since it connected.
    public var bytes: Int
    /// Seconds since it connected.
    public var seconds: Double
    /// Sound units it was not sent (it fell behind, or waited for a keyframe); 0 without sound.
    public var soundUnitsSkipped: Int
}

/// The live clients of a camera and what each is sent, for `/api/status`.
public final class LiveClients: Sendable {
    private struct Client {
        var kind: LiveKind
        var bytes = 0
        var since: UInt64
        var windowStart: UInt64
        var windowBytes = 0
        var rate: Double?
        var soundSkipped = 0
    }

    private let clients = Mutex<[Int: Client]>([:])
    private let nextID = Atomic<Int>(0)

    /// No clients.
    public init() {}

    /// Registers a client of `kind`; pass the returned id to `sent` and `leave`.
    public func join(_ kind: LiveKind) -> Int {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        let now = MonotonicClock.nanos()
        clients.withLock { $0[id] = Client(kind: kind, since: now, windowStart: now) }
        return id
    }

    /// Counts `bytes` sent to client `id`.
    public func sent(_ bytes: Int, to id: Int) {
        let now = MonotonicClock.nanos()
        clients.withLock { all in
            guard var c = all[id] else { return }
            c.bytes += bytes
            c.windowBytes += bytes
            let window = MonotonicClock.elapsed(from: c.windowStart, to: now)
            if window >= 2_000_000_000 {
                c.rate = Double(c.windowBytes) / (Double(window) / 1e9)
                c.windowStart = now
                c.windowBytes = 0
            }
            all[id] = c
        }
    }

    /// Counts `bytes` sent to every client of `kind` (RTSP clients share one stream: each gets the same bytes).
    public func sentToAll(_ bytes: Int, kind: LiveKind) {
        let ids = clients.withLock { $0.filter { $0.value.kind == kind }.map(\.key) }
        for id in ids { sent(bytes, to: id) }
    }

    /// Counts `units` sound units client `id` was not sent.
    public func skippedSound(_ units: Int, for id: Int) {
        guard units > 0 else { return }
        clients.withLock { $0[id]?.soundSkipped += units }
    }

    /// Forgets client `id`.
    public func leave(_ id: Int) {
        _ = clients.withLock { $0.removeValue(forKey: id) }
    }

    /// Clients of `kind` now.
    public func count(_ kind: LiveKind) -> Int {
        clients.withLock { $0.values.filter { $0.kind == kind }.count }
    }

    /// Every client, oldest first.
    public func status() -> [LiveClientStatus] {
        let now = MonotonicClock.nanos()
        return clients.withLock { all in
            all.sorted { $0.key < $1.key }.map { _, c in
                let seconds = Double(MonotonicClock.elapsed(from: c.since, to: now)) / 1e9
                return LiveClientStatus(kind: c.kind, bytesPerSecond: ((c.rate ?? Double(c.bytes) / max(seconds, 0.001)) * 10).rounded() / 10,
                                        bytes: c.bytes, seconds: (seconds * 10).rounded() / 10, soundUnitsSkipped: c.soundSkipped)
            }
        }
    }
}
