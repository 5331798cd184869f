/// What `/api/status` reports of the hooks.
public struct HookStatus: Codable, Sendable {
    /// Waiting to run.
    public var queued: Int
    /// Running now.
    public var running: Int
    /// Started since launch.
    public var started: UInt64
    /// Exited with status 0.
    public var succeeded: UInt64
    /// Exited otherwise, were killed, or could not start.
    public var failed: UInt64
    /// Killed after the timeout (also counted in `failed`).
    public var timedOut: UInt64
    /// Not run because the queue was full.
    public var dropped: UInt64
    /// The most running at once since launch.
    public var mostRunning: Int
    /// The last failure, e.g. `rclone exited with status 1: …`.
    public var lastFailure: String?

    /// Creates a value with every field given.
    public init(queued: Int, running: Int, started: UInt64, succeeded: UInt64, failed: UInt64, timedOut: UInt64, dropped: UInt64, mostRunning: Int, lastFailure: String? = nil) {
        self.queued = queued
        self.running = running
        self.started = started
        self.succeeded = succeeded
        self.failed = failed
        self.timedOut = timedOut
        self.dropped = dropped
        self.mostRunning = mostRunning
        self.lastFailure = lastFailure
    }
}
