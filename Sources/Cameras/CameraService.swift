import Logging
import ServiceLifecycle

/// Runs a set of cameras for the daemon's lifetime: starts them all, and on graceful shutdown
/// stops them, which ends every live stream so that the HTTP server can close promptly.
public struct CameraService: Service {
    /// The cameras, in configuration order.
    public let cameras: [Camera]
    private let logger: Logger

    /// Creates the service.
    public init(cameras: [Camera], logger: Logger) {
        self.cameras = cameras
        self.logger = logger
    }

    /// Starts every camera, waits for shutdown, then stops them.
    public func run() async throws {
        var started: [Camera] = []
        defer { for camera in started.reversed() { camera.stop() } }
        for camera in cameras {
            try camera.start()
            started.append(camera)
            logger.info("camera started", metadata: ["camera": "\(camera.config.id)", "source": "\(camera.source.description)"])
        }
        try? await gracefulShutdown()
        logger.info("stopping cameras")
    }
}
