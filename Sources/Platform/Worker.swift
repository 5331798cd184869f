import Synchronization

/// A named thread that runs until it is stopped and is joined: started once, stopped (and joined) once, whatever the
/// order of calls. Its body loops while `isRunning`, or until the queue it reads is closed by its owner.
public final class Worker: Sendable {
    private let running = Atomic<Bool>(false)
    private let thread = Mutex<DedicatedThread?>(nil)

    /// Not started yet.
    public init() {}

    /// Whether the body should keep going (until `stop`).
    public var isRunning: Bool { running.load(ordering: .acquiring) }

    /// Starts `body` on a thread named `name` (Linux shows 15 characters); false when one was started already.
    @discardableResult
    public func start(name: String, _ body: @escaping @Sendable () -> Void) -> Bool {
        thread.withLock { current in
            guard current == nil else { return false }
            running.store(true, ordering: .releasing)
            current = DedicatedThread(name: name, body)
            return true
        }
    }

    /// Waits for the body to return by itself (it stays started: `stop` still joins nothing twice).
    public func join() {
        thread.withLock { $0 }?.join()
    }

    /// Waits `nanos` (a retry's backoff) in steps of 100 ms, calling `tick` at each, returning early once stopped.
    public func pause(nanos: UInt64, tick: () -> Void = {}) {
        let until = MonotonicClock.nanos() + nanos
        while isRunning, MonotonicClock.nanos() < until {
            tick()
            sleepNanos(100_000_000)
        }
    }

    /// Asks the body to return (`isRunning` turns false) and waits for it; safe to call more than once.
    public func stop() {
        running.store(false, ordering: .releasing)
        // Taken out first: a second `stop` finds no thread to join.
        thread.withLock { t -> DedicatedThread? in
            defer { t = nil }
            return t
        }?.join()
    }
}
