/// How long to wait before the next attempt after a failure: 1 s, doubling up to 30 s, back to 1 s after a
/// success. One type for every retry loop (devices, rpicam-vid, disk errors, RTSP publishing).
public struct Backoff: Sendable {
    /// First and shortest wait.
    public let first: UInt64
    /// Longest wait.
    public let limit: UInt64
    /// The wait the next failure gets.
    public private(set) var current: UInt64

    /// 1 s doubling to 30 s unless told otherwise.
    public init(firstNanos: UInt64 = 1_000_000_000, limitNanos: UInt64 = 30_000_000_000) {
        first = firstNanos
        limit = limitNanos
        current = firstNanos
    }

    /// The wait for this failure; the next one waits twice as long (up to the limit).
    public mutating func next() -> UInt64 {
        defer { current = min(current * 2, limit) }
        return current
    }

    /// After a success: the next failure waits the first interval again.
    public mutating func reset() {
        current = first
    }
}
