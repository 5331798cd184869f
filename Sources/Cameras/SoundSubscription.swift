import Encoding
import Platform
import Synchronization

/// One listener's queue of a camera's sound units (a live H.264 viewer, an RTSP push), filled on the sound's thread:
/// bounded (about two seconds at 48 kHz), the oldest dropped and counted when the listener does not take them.
public final class SoundSubscription: Sendable {
    /// Units kept at most.
    public static let capacity = 96

    private struct State {
        var units: [EncodedAudio] = []
        var dropped = 0
        var lastArrival: UInt64?
    }

    private let state = Mutex(State())
    private let observers: Observers<EncodedAudio>
    private let id = Mutex<UInt64?>(nil)
    private let since = MonotonicClock.nanos()

    /// Listens to `observers` until `cancel`.
    init(_ observers: Observers<EncodedAudio>) {
        self.observers = observers
        let added = observers.add { [weak self] unit in self?.offer(unit) }
        id.withLock { $0 = added }
    }

    private func offer(_ unit: EncodedAudio) {
        let now = MonotonicClock.nanos()
        state.withLock { s in
            if s.units.count >= Self.capacity {
                s.units.removeFirst()
                s.dropped += 1
            }
            s.units.append(unit)
            s.lastArrival = now
        }
    }

    /// The units waiting, and how many were dropped since the last call.
    public func take() -> (units: [EncodedAudio], dropped: Int) {
        state.withLock { s in
            defer { s.units.removeAll(keepingCapacity: true); s.dropped = 0 }
            return (s.units, s.dropped)
        }
    }

    /// Whether no unit arrived in the last `nanos` (counted from the subscription before the first).
    public func silent(for nanos: UInt64) -> Bool {
        MonotonicClock.elapsed(from: state.withLock { $0.lastArrival } ?? since, to: MonotonicClock.nanos()) > nanos
    }

    /// Stops listening (idempotent).
    public func cancel() {
        if let added = id.withLock({ value in defer { value = nil }; return value }) { observers.remove(added) }
    }

    deinit { cancel() }
}
