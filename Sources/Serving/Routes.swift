import Cameras
import Encoding
import FrameBus
import Foundation
import Frames
import Platform
import HTTPTypes
import Hummingbird
import Recording
import ServiceSettings
import Telemetry

/// The HTTP surface (see DESIGN.md, "HTTP surface").
struct Routes: Sendable {
    let cameras: [Camera]
    let recordings: RecordingsAccess?
    let connections: ConnectionRegistry
    let startedAt: Date
    let services: ServiceReports
    let load = SystemLoad()

    func register(on router: Router<BlackboxContext>) {
        router.get("/") { request, _ in
            switch request.uri.queryParameters["action"] {
            case "stream": return try await stream(request)
            case "snapshot": return try await snapshot(request)
            case nil: return UIAssets.indexPage(tiles: services.gps?().tiles?.origin)
            case let other?:
                return JSON.error(.badRequest, "unknown action", "action '\(other)' is not known; allowed: stream, snapshot")
            }
        }
        for path in ["/stream", "/video_feed"] {
            router.get(RouterPath(path)) { request, _ in try await stream(request) }
        }
        for path in ["/snapshot", "/snapshot.jpg"] {
            router.get(RouterPath(path)) { request, _ in try await snapshot(request) }
        }
        router.get("/api/status") { _, _ in JSON.response(status()) }
        router.get("/healthz") { _, _ in health() }
    }

    /// The camera named by `?camera=ID` (the first camera when absent), or a 404 naming the ones there are.
    private func camera(for request: Request) throws(HTTPErrorResponse) -> Camera {
        guard let id = request.uri.queryParameters["camera"] else {
            guard let first = cameras.first else { throw HTTPErrorResponse(JSON.error(.notFound, "no camera", "no camera is configured")) }
            return first
        }
        return try cameras.named(String(id))
    }

    /// Live MJPEG: every part is the newest frame when the socket is ready for it.
    private func stream(_ request: Request) async throws -> Response {
        let camera = try self.camera(for: request)
        var headers = HTTPFields()
        headers[.contentType] = MJPEGPart.contentType
        headers[.cacheControl] = "no-store, no-cache, must-revalidate, max-age=0"
        headers[.pragma] = "no-cache"
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            camera.jpegDemand.viewers.add(1, ordering: .relaxed)
            let viewer = camera.bus.join()
            let client = camera.live.join(.mjpeg)
            defer {
                camera.bus.leave(viewer)
                camera.live.leave(client)
                camera.jpegDemand.viewers.subtract(1, ordering: .relaxed)
            }
            while let frame = await camera.bus.next(for: viewer) {
                let part = MJPEGPart.buffers(frame)
                try await writer.write(contentsOf: part)
                camera.live.sent(part.reduce(0) { $0 + $1.readableBytes }, to: client)
            }
            try await writer.finish(nil)
        })
    }

    /// The newest JPEG (waits up to 2 s for the first frame after start-up).
    private func snapshot(_ request: Request) async throws -> Response {
        let camera = try self.camera(for: request)
        let frame: EncodedFrame?
        // When JPEGs are made on demand and nobody wanted one lately, the newest JPEG is old: ask
        // for one and wait for the next frame.
        let fresh = camera.jpegDemand.isWanted
        camera.jpegDemand.request()
        if fresh, let latest = camera.bus.latest {
            frame = latest
        } else {
            let after = camera.bus.latest?.sequence
            frame = await withTaskGroup(of: EncodedFrame?.self) { group in
                group.addTask { await camera.bus.next(after: after) }
                group.addTask { try? await Task.sleep(for: .seconds(2)); return nil }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first
            }
        }
        guard let frame else {
            return JSON.error(.serviceUnavailable, "no frame", "camera '\(camera.config.id)' has not produced a frame yet")
        }
        var headers = HTTPFields()
        headers[.contentType] = "image/jpeg"
        headers[.contentLength] = String(frame.bytes.readableBytes)
        headers[.cacheControl] = "no-store"
        headers[.xTimestamp] = frame.time.timestamp
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: frame.bytes))
    }

    /// What `/api/status` returns.
    struct Status: Codable {
        var version: String
        var uptimeSeconds: Double
        var cameras: [CameraStatus]
        var recordingsRoot: String?
        var disk: DiskUsage?
        /// Commands run for finished recordings (absent when none are configured).
        var hooks: HookStatus?
        /// The MQTT connection (absent when no broker is configured).
        var mqtt: MQTTStatus?
        /// The RTSP server and pushes (absent when RTSP is off).
        var rtsp: RTSPStatus?
        /// The GPS receiver (absent when no gpsd is configured).
        var gps: GPSStatus?
        /// The accelerometer (absent when none is configured).
        var gsensor: GSensorStatus?
        /// The ignition and button lines and parking (absent when no line is configured).
        var gpio: GPIOStatus?
        var system: SystemLoad.Reading
        var connections: ConnectionRegistry.Snapshot
    }

    private func status() -> Status {
        Status(version: BlackboxVersion.string, uptimeSeconds: (Date().timeIntervalSince(startedAt) * 10).rounded() / 10,
               cameras: cameras.map { $0.status() }, recordingsRoot: recordings?.root, disk: recordings?.retention.usage,
               hooks: recordings?.hooks?(), mqtt: services.mqtt?(), rtsp: services.rtsp?(), gps: services.gps?(), gsensor: services.gsensor?(),
               gpio: services.gpio?(), system: load.reading(), connections: connections.snapshot())
    }

    /// Liveness: 200 while every camera delivers frames; 503 naming the stalled ones.
    private func health() -> Response {
        let uptime = Date().timeIntervalSince(startedAt)
        let stalled = cameras.map { $0.status() }.filter { s in
            if let age = s.lastFrameAgeMs { return age > 5000 }
            return uptime > 10
        }.map(\.id)
        if stalled.isEmpty {
            return JSON.response(["status": "ok"])
        }
        return JSON.error(.serviceUnavailable, "stalled", "no frame for more than 5 s from: \(stalled.joined(separator: ", "))")
    }
}

extension [Camera] {
    /// The camera with id `id`, or a 404 naming the cameras there are.
    func named(_ id: String) throws(HTTPErrorResponse) -> Camera {
        if let camera = first(where: { $0.config.id == id }) { return camera }
        let known = map(\.config.id).joined(separator: ", ")
        throw HTTPErrorResponse(JSON.error(.notFound, "unknown camera", "no camera '\(id)'; cameras: \(known)"))
    }
}

/// An error answer, thrown by a handler (Hummingbird sends it as it is).
struct HTTPErrorResponse: HTTPResponseError {
    let response: Response
    init(_ response: Response) { self.response = response }

    /// The answer's status.
    var status: HTTPResponse.Status { response.status }

    /// The answer itself.
    func response(from request: Request, context: some RequestContext) throws -> Response { response }
}

/// The daemon's version, shown in `/api/status` and `--version`.
public enum BlackboxVersion {
    /// Semantic version string.
    public static let string = "0.1.0"
}
