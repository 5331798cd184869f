import NIOPosix

/// Blocking work of a request (joining an encoder thread, restarting a device, reading recordings, hashing a
/// password) runs on NIO's thread pool: never on an event loop, never on Swift's cooperative pool.
enum Blocking {
    /// Runs `body` on the thread pool and returns what it returns (or throws what it throws).
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(body)
    }

    /// Starts `body` on the thread pool without waiting for it (cleanup where nothing can wait: a `defer`).
    static func start(_ body: @escaping @Sendable () -> Void) {
        NIOThreadPool.singleton.submit { state in
            if case .active = state { body() }
        }
    }
}
