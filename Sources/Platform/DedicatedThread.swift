import CShims
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A named OS thread for blocking work (capture, encoding, file writes), kept off Swift's
/// cooperative pool so that a slow device or disk can never starve the network side.
public final class DedicatedThread: @unchecked Sendable {
    private final class Box {
        let body: () -> Void
        let name: String
        init(_ name: String, _ body: @escaping () -> Void) { self.name = name; self.body = body }
    }

    private var thread: pthread_t
    private var joined = false

    /// Starts `body` on a new thread named `name` (Linux shows up to 15 characters of it).
    public init(name: String, _ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Box(name, body)).toOpaque()
        var t = pthread_t()
        let rc = pthread_create(&t, nil, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            _ = blackbox_set_thread_name(box.name)
            box.body()
            return nil
        }, box)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        thread = t
    }

    /// Waits for the thread's body to return. Safe to call more than once.
    public func join() {
        guard !joined else { return }
        joined = true
        pthread_join(thread, nil)
    }
}
