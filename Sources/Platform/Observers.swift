import Synchronization

/// Callbacks interested in a stream of values (motion starting and ending, a file finished): whoever
/// publishes calls each on its own thread, so a callback only hands the value on and never blocks.
public final class Observers<Value: Sendable>: Sendable {
    private let callbacks = Mutex<[@Sendable (Value) -> Void]>([])

    /// No observers yet.
    public init() {}

    /// Adds `callback`; it stays for the publisher's life.
    public func add(_ callback: @escaping @Sendable (Value) -> Void) {
        callbacks.withLock { $0.append(callback) }
    }

    /// Calls every callback with `value`.
    public func publish(_ value: Value) {
        for callback in callbacks.withLock({ $0 }) { callback(value) }
    }
}
