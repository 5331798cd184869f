import Synchronization

/// How far a worker thread has got: jobs handed to it and jobs it finished (done, failed or given up).
/// A stage with jobs waiting that finishes none is stuck; an idle one is not (JPEGs nobody asks for).
public final class WorkProgress: Sendable {
    /// Jobs queued for the worker.
    public let accepted = Atomic<UInt64>(0)
    /// Jobs the worker finished, whatever came of them.
    public let finished = Atomic<UInt64>(0)

    /// Nothing handed over yet.
    public init() {}

    /// One more job is queued.
    public func accept() { accepted.add(1, ordering: .relaxed) }

    /// One more job is finished.
    public func finish() { finished.add(1, ordering: .relaxed) }

    /// This worker as a pipeline stage named `name`: it must move while jobs wait.
    public func stage(_ name: String) -> StageProgress {
        // Finished first: a job accepted between the two loads counts as waiting, never the reverse.
        let done = finished.load(ordering: .acquiring)
        let queued = accepted.load(ordering: .acquiring)
        return StageProgress(name: name, count: done, busy: queued > done)
    }
}

/// One stage of a camera's pipeline as the watchdog sees it: a counter that moves while it works, and
/// whether it must be moving now.
public struct StageProgress: Sendable, Equatable {
    /// `front capture`, `front h264 encoder`, …
    public var name: String
    /// Grows with every frame or loop turn (any change is progress: a restarted encoder starts again at 0).
    public var count: UInt64
    /// Whether the stage has work now (or always has: capture, the recorder's loop); an idle stage never stalls.
    public var busy: Bool

    /// Creates a reading.
    public init(name: String, count: UInt64, busy: Bool) {
        self.name = name
        self.count = count
        self.busy = busy
    }
}
