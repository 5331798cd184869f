/// Carries a value the compiler cannot prove Sendable across a thread hand-off that is known to be safe
/// (a value created on one thread and then used only by the next).
public struct UncheckedSendable<T>: @unchecked Sendable {
    /// The value.
    public let value: T
    /// Wraps `value`.
    public init(_ value: T) { self.value = value }
}
