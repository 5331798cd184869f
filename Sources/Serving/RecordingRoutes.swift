import Cameras
import Foundation
import Hummingbird
import Recording

/// Where the recordings are, for the API.
public struct RecordingsAccess: Sendable {
    /// Recordings root.
    public let root: String
    /// Loop overwrite policy (also the source of disk usage figures).
    public let retention: Retention
    /// Segments recovered at start-up.
    public let recovered: Int

    /// Creates the access description.
    public init(root: String, retention: Retention, recovered: Int = 0) {
        self.root = root
        self.retention = retention
        self.recovered = recovered
    }
}

/// Recording control, event clips and the recordings list.
struct RecordingRoutes: Sendable {
    let cameras: [Camera]
    let access: RecordingsAccess?

    /// Largest request body the API accepts.
    static let maxBody = 16 * 1024

    struct CameraRequest: Decodable {
        var camera: String?
        var reason: String?
    }

    struct ProtectRequest: Decodable {
        var path: String
        var `protected`: Bool
    }

    struct Listed: Codable {
        var path: String
        var camera: String
        var kind: String
        var size: Int
        var modified: Int
        var `protected`: Bool
        var writing: Bool
    }

    func register(on router: Router<BasicRequestContext>) {
        router.post("/api/recording/start") { request, _ in try await setRecording(request, on: true) }
        router.post("/api/recording/stop") { request, _ in try await setRecording(request, on: false) }
        router.post("/api/events") { request, _ in try await event(request) }
        router.get("/api/recordings") { request, _ in list(request) }
        router.post("/api/recordings/protect") { request, _ in try await protect(request) }
        router.post("/api/cameras/:id/source") { request, context in try await switchSource(request, id: context.parameters.get("id") ?? "") }
    }

    struct SourceRequest: Decodable {
        var source: String
    }

    /// Switches a camera to another source of the same size and rate, e.g. `{"source": "rpicam:1"}`.
    private func switchSource(_ request: Request, id: String) async throws -> Response {
        let body: SourceRequest
        switch try await decode(SourceRequest.self, request, required: true) {
        case .success(let b): body = b!
        case .failure(let e): return e.response
        }
        let camera: Camera
        switch targets(id) {
        case .success(let c): camera = c[0]
        case .failure(let e): return e.response
        }
        let wanted: CameraConfig
        do {
            wanted = try CameraConfig.parse("\(id)=\(body.source)", defaults: camera.config)
        } catch {
            return JSON.error(.badRequest, "bad source", error.description)
        }
        guard wanted.geometry == camera.config.geometry else {
            return JSON.error(.badRequest, "size change", "changing size or rate needs a restart; allowed: the camera's \(camera.config.geometry)")
        }
        // Stopping a source can take up to 2.5 s (a child that ignores SIGTERM): off the event loop.
        let result: Result<Void, any Error> = await Task.detached { Result { try camera.switchSource(to: wanted.source) } }.value
        if case .failure(let error) = result {
            return JSON.error(.conflict, "source did not start", "\(error); the previous source is running again")
        }
        return JSON.response(camera.status())
    }

    /// Decodes an optional JSON body; nil body fields when the body is empty.
    private func decode<T: Decodable>(_ type: T.Type, _ request: Request, required: Bool = false) async throws -> Result<T?, HTTPErrorResponse> {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.maxBody)
        } catch {
            return .failure(HTTPErrorResponse(JSON.error(.contentTooLarge, "body too large", "request bodies are limited to \(Self.maxBody) bytes")))
        }
        if body.readableBytes == 0 {
            return required ? .failure(HTTPErrorResponse(JSON.error(.badRequest, "missing body", "this request needs a JSON body"))) : .success(nil)
        }
        do {
            return .success(try JSONDecoder().decode(T.self, from: Data(body.readableBytesView)))
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            return .failure(HTTPErrorResponse(JSON.error(.badRequest, "wrong type", "field '\(field)': \(context.debugDescription)")))
        } catch let DecodingError.keyNotFound(key, _) {
            return .failure(HTTPErrorResponse(JSON.error(.badRequest, "missing field", "field '\(key.stringValue)' is required")))
        } catch {
            return .failure(HTTPErrorResponse(JSON.error(.badRequest, "malformed JSON", "the body is not valid JSON")))
        }
    }

    /// The cameras a request names (query `camera` or body `camera`), all when none is named.
    private func targets(_ id: String?) -> Result<[Camera], HTTPErrorResponse> {
        guard let id else { return .success(cameras) }
        return cameras.named(id).map { [$0] }
    }

    private func noRecording() -> Response {
        JSON.error(.conflict, "recording unavailable", "this daemon runs without a recordings folder")
    }

    private func setRecording(_ request: Request, on: Bool) async throws -> Response {
        let body: CameraRequest?
        switch try await decode(CameraRequest.self, request) {
        case .success(let b): body = b
        case .failure(let e): return e.response
        }
        let selected: [Camera]
        switch targets(request.uri.queryParameters["camera"].map(String.init) ?? body?.camera) {
        case .success(let c): selected = c
        case .failure(let e): return e.response
        }
        guard access != nil else { return noRecording() }
        for camera in selected { camera.recorder?.setRecording(on) }
        struct Answer: Codable { var id: String; var recording: RecorderStatus? }
        return JSON.response(["cameras": selected.map { Answer(id: $0.config.id, recording: $0.recorder?.status()) }])
    }

    private func event(_ request: Request) async throws -> Response {
        let body: CameraRequest?
        switch try await decode(CameraRequest.self, request) {
        case .success(let b): body = b
        case .failure(let e): return e.response
        }
        let reason = body?.reason ?? "api"
        guard reason.count <= 200 else {
            return JSON.error(.badRequest, "reason too long", "reason has \(reason.count) characters; allowed: up to 200")
        }
        let selected: [Camera]
        switch targets(request.uri.queryParameters["camera"].map(String.init) ?? body?.camera) {
        case .success(let c): selected = c
        case .failure(let e): return e.response
        }
        guard access != nil else { return noRecording() }
        let tickets = selected.compactMap { $0.recorder?.triggerEvent(reason: reason) }
        return JSON.response(["events": tickets], status: .accepted)
    }

    private func list(_ request: Request) -> Response {
        guard let access else { return noRecording() }
        let camera = request.uri.queryParameters["camera"].map(String.init)
        let files = RecordingsTree.files(under: access.root)
        let markers = Set(files.filter { $0.relative.hasSuffix(RecordingsTree.protectedSuffix) }.map(\.relative))
        let listed = files.filter { ($0.isVideo || $0.isPartial) && (camera == nil || $0.camera == camera) }
            .sorted { ($0.modified, $0.relative) > ($1.modified, $1.relative) }
            .map { f in
                Listed(path: f.isPartial ? String(f.relative.dropLast(5)) : f.relative, camera: f.camera,
                       kind: f.isEvent ? "event" : "segment", size: f.size, modified: f.modified,
                       protected: markers.contains(f.relative + RecordingsTree.protectedSuffix), writing: f.isPartial)
            }
        struct Answer: Codable { var root: String; var disk: DiskUsage?; var recordings: [Listed] }
        return JSON.response(Answer(root: access.root, disk: access.retention.usage, recordings: listed))
    }

    private func protect(_ request: Request) async throws -> Response {
        let body: ProtectRequest
        switch try await decode(ProtectRequest.self, request, required: true) {
        case .success(let b): body = b!
        case .failure(let e): return e.response
        }
        guard let access else { return noRecording() }
        guard body.path.hasSuffix(".mp4"), let path = RecordingsTree.resolve(body.path, under: access.root) else {
            return JSON.error(.notFound, "no such recording", "no recording '\(body.path)' under the recordings folder")
        }
        do {
            try RecordingsTree.setProtected(path, body.protected)
        } catch {
            return JSON.error(.internalServerError, "cannot change protection", error.description)
        }
        return JSON.response(["path": body.path, "protected": body.protected ? "true" : "false"])
    }
}
