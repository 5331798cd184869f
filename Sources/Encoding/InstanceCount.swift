import Synchronization

/// How many encoders are open right now: each encoder counts itself in when its library handle is made and out
/// when it is released, so a status built from it shows what really runs (a second encoder shows as 2).
public final class InstanceCount: Sendable {
    private let count = Atomic<Int>(0)

    /// Starts at zero.
    public init() {}

    /// Encoders open now.
    public var value: Int { count.load(ordering: .relaxed) }

    func opened() { count.add(1, ordering: .relaxed) }

    func closed() { count.subtract(1, ordering: .relaxed) }
}
