/// `[hooks]`: commands run when a recording is finished, e.g. `rclone copy` to a NAS or an S3 bucket.
public struct HookSettings: Sendable, Equatable {
    /// Run for every finished event clip: an argv list (never a shell string).
    public var onEventClip: [String]?
    /// Run for every finished segment.
    public var onSegmentComplete: [String]?
    /// A hook still running after this long is killed (its whole process group).
    public var timeoutSeconds = 300.0
    /// Hooks running at once; more wait in the queue.
    public var maxRunning = 2
    /// Hooks waiting at most; when it is full, new ones are dropped and counted.
    public var queueLength = 100

    /// No hooks.
    public init() {}

    /// Whether any hook is configured.
    public var isEmpty: Bool { onEventClip == nil && onSegmentComplete == nil }

    /// Throws a message naming the first bad setting and what is allowed.
    public func validate() throws(HookError) {
        for (name, argv) in [("on_event_clip", onEventClip), ("on_segment_complete", onSegmentComplete)] {
            guard let argv else { continue }
            guard let program = argv.first, !program.isEmpty else {
                throw HookError("hooks \(name) is empty; allowed: a list naming a program and its arguments, e.g. [\"rclone\", \"copy\", \"{path}\", \"nas:cctv\"]")
            }
            if let bad = argv.first(where: { $0.utf8.contains(0) }) {
                throw HookError("hooks \(name) argument \"\(bad.prefix(40))\" holds a NUL byte; allowed: text without NUL")
            }
            guard argv.count <= 64 else { throw HookError("hooks \(name) has \(argv.count) arguments; allowed: up to 64") }
        }
        guard timeoutSeconds >= 1, timeoutSeconds <= 86_400 else {
            throw HookError("hooks timeout_seconds \(timeoutSeconds) is out of range; allowed: 1 to 86400")
        }
        guard (1...16).contains(maxRunning) else { throw HookError("hooks max_running \(maxRunning) is out of range; allowed: 1 to 16") }
        guard (1...10_000).contains(queueLength) else { throw HookError("hooks queue \(queueLength) is out of range; allowed: 1 to 10000") }
    }
}

/// A bad hook setting, said in words.
public struct HookError: Error, Sendable, CustomStringConvertible {
    /// What was wrong and what is allowed.
    public let description: String

    /// An error with `description`.
    public init(_ description: String) {
        self.description = description
    }
}
