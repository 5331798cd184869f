import Logging
import ServiceLifecycle

/// Keeps a set of started cameras for the daemon's lifetime and stops them on graceful shutdown,
/// which ends every live stream so that the HTTP server can close promptly.
public struct CameraService: Service {
    /// The cameras, in configuration order.
    public let cameras: [Camera]
    private let logger: Logger

    /// Creates the service.
    public init(cameras: [Camera], logger: Logger) {
        self.cameras = cameras
        self.logger = logger
    }

    /// Waits for shutdown, then stops the cameras.
    public func run() async throws {
        try? await gracefulShutdown()
        logger.info("stopping cameras")
        for camera in cameras.reversed() { camera.stop() }
    }
}
