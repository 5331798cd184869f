import Frames
import Platform

extension Worker {
    /// Starts a source's capture thread; throws when the source is already running.
    public func start(name: String, source: String, _ body: @escaping @Sendable () -> Void) throws(CaptureError) {
        guard start(name: name, body) else { throw CaptureError.alreadyRunning(source) }
    }
}
