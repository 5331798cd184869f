import Cameras
import Foundation
import Hummingbird
import Logging
import ServiceSettings

/// Builds the daemon's HTTP application: live MJPEG, snapshots, the web UI and the JSON API, behind authentication.
public enum HTTPServer {
    /// The application serving `cameras` on `host`:`port` (port 0 picks a free one);
    /// `onRunning` receives the port actually bound; `onSettingsChanged` runs after camera settings
    /// or sources changed through the API (on a blocking-I/O thread); `services` report MQTT, RTSP and the GPS in the
    /// status and the metrics.
    public static func application(cameras: [Camera], recordings: RecordingsAccess? = nil, auth: AuthSettings, host: String, port: Int,
                                   connections: ConnectionRegistry = ConnectionRegistry(limits: ConnectionLimits()),
                                   logger: Logger, services: ServiceReports = ServiceReports(), onSettingsChanged: @escaping @Sendable () -> Void = {},
                                   onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        // HEAD is answered wherever GET is, with the GET's headers and no body.
        let router = Router(context: BlackboxContext.self, options: .autoGenerateHeadEndpoints)
        let authenticator = Authenticator(settings: auth)
        router.add(middleware: AuthMiddleware(auth: authenticator))
        LoginRoutes(auth: authenticator).register(on: router)
        UIAssets.register(on: router)
        Routes(cameras: cameras, recordings: recordings, connections: connections, startedAt: Date(), services: services).register(on: router)
        LiveRoutes(cameras: cameras).register(on: router)
        RecordingRoutes(cameras: cameras, access: recordings).register(on: router)
        RecordingFiles(access: recordings).register(on: router)
        TimelineRoutes(cameras: cameras, access: recordings).register(on: router)
        CameraRoutes(cameras: cameras, onChange: onSettingsChanged).register(on: router)
        let metrics = Metrics(cameras: cameras, recordings: recordings, services: services)
        router.get("/metrics") { _, _ in metrics.response() }
        router.get("/api/openapi.json") { _, _ in UIAssets.asset(OpenAPIDocument.bytes, type: "application/json") }
        return Application(
            responder: JSONErrorResponder(inner: router.buildResponder()),
            server: .http1(configuration: .init(additionalChannelHandlers: [ConnectionGuardInstaller(registry: connections)])),
            configuration: .init(address: .hostname(host, port: port), serverName: "blackbox", backlog: 1024),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }
}
