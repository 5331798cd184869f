import Synchronization

/// Callbacks interested in a stream of values (motion starting and ending, a file finished): whoever
/// publishes calls each on its own thread, so a callback only hands the value on and never blocks.
public final class Observers<Value: Sendable>: Sendable {
    private struct State {
        var next: UInt64 = 0
        var callbacks: [(id: UInt64, call: @Sendable (Value) -> Void)] = []
    }

    private let state = Mutex(State())

    /// No observers yet.
    public init() {}

    /// Adds `callback` until `remove` is called with what this returns (or for the publisher's life).
    @discardableResult
    public func add(_ callback: @escaping @Sendable (Value) -> Void) -> UInt64 {
        state.withLock { state in
            state.next += 1
            state.callbacks.append((state.next, callback))
            return state.next
        }
    }

    /// Removes the callback `add` returned `id` for (a publish already under way may still call it once).
    public func remove(_ id: UInt64) {
        state.withLock { $0.callbacks.removeAll { $0.id == id } }
    }

    /// Calls every callback with `value`.
    public func publish(_ value: Value) {
        for entry in state.withLock({ $0.callbacks }) { entry.call(value) }
    }
}
