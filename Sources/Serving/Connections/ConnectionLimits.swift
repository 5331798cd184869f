import NIOCore

/// Caps and time-outs that keep clients from taking what the recorder needs (file descriptors,
/// memory, event-loop time). Every connection is under one of the time-outs at every moment.
public struct ConnectionLimits: Sendable, Equatable {
    /// Open client connections at most; past it the oldest waiting one is closed, or the new one refused.
    public var maxConnections = 512
    /// Connections per client address that are not being answered (never sent a whole request head,
    /// or idle between requests); past it that address's oldest such connection is closed.
    public var maxWaitingPerClient = 32
    /// How long a new connection is spared by `maxWaitingPerClient`: its request may already be in the
    /// socket, unread, while a burst from the same address arrives (the whole cap can turn over in a few
    /// milliseconds). `maxConnections` alone still bounds the total.
    public var waitingGrace = TimeAmount.seconds(1)
    /// Time from connecting to a complete request head (slowloris, idle sockets).
    public var headTimeout = TimeAmount.seconds(10)
    /// Time an idle keep-alive connection may wait for its next request.
    public var idleTimeout = TimeAmount.seconds(15)
    /// Longest pause between two pieces of a request body (a body that never ends).
    public var bodyTimeout = TimeAmount.seconds(10)
    /// Longest time a response may make no progress because the client reads nothing (stalled viewers).
    public var writeStallTimeout = TimeAmount.seconds(20)

    /// File descriptors kept for cameras, recording and logs: connections may use the rest.
    public static let descriptorReserve = 256

    /// The defaults.
    public init() {}

    /// These limits with `maxConnections` lowered so clients can never take the reserved descriptors
    /// out of a soft limit of `descriptorLimit`.
    public func fitting(descriptorLimit: Int) -> ConnectionLimits {
        var limits = self
        limits.maxConnections = max(1, min(maxConnections, descriptorLimit - Self.descriptorReserve))
        limits.maxWaitingPerClient = min(maxWaitingPerClient, limits.maxConnections)
        return limits
    }
}
