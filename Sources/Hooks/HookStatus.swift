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
}
