import Frames
import Synchronization

/// A source's dedicated capture thread and its run flag: started once, stopped (and joined) once.
final class SourceThread: Sendable {
    private let running = Atomic<Bool>(false)
    private let thread = Mutex<DedicatedThread?>(nil)

    /// Whether the source should keep going (checked by the capture loop).
    var isRunning: Bool { running.load(ordering: .acquiring) }

    /// Starts `body` on a thread named `name`; throws when already started.
    func start(name: String, source: String, _ body: @escaping @Sendable () -> Void) throws(CaptureError) {
        try thread.withLock { current throws(CaptureError) in
            guard current == nil else { throw CaptureError.alreadyRunning(source) }
            running.store(true, ordering: .releasing)
            current = DedicatedThread(name: name, body)
        }
    }

    /// Waits for the body to return by itself.
    func join() {
        thread.withLock { $0 }?.join()
    }

    /// Asks the body to return and waits for it; idempotent.
    func stop() {
        running.store(false, ordering: .releasing)
        thread.takeAndJoin()
    }
}
