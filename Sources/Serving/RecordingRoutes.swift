import Cameras
import Encoding
import Foundation
import Hummingbird
import NIOPosix
import Recording
import Synchronization

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

    struct CameraRequest: JSONRequestBody {
        var camera: String?
        var reason: String?

        static let fields: Set<String> = ["camera", "reason"]

        /// Refuses a reason that is too long or holds control characters: it reaches the log and
        /// the clip's metadata, where a line break would forge a log line.
        func checkReason() throws(HTTPErrorResponse) {
            guard let reason else { return }
            guard reason.count <= 200 else {
                throw HTTPErrorResponse(JSON.error(.badRequest, "reason too long", "reason has \(reason.count) characters; allowed: up to 200"))
            }
            guard !reason.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                throw HTTPErrorResponse(JSON.error(.badRequest, "bad reason",
                                                   "reason contains control characters (line breaks, tabs, escapes); allowed: printable text up to 200 characters"))
            }
        }
    }

    struct ProtectRequest: JSONRequestBody {
        var path: String
        var `protected`: Bool

        static let fields: Set<String> = ["path", "protected"]
    }

    struct Listed: Codable {
        var path: String
        var camera: String
        var day: String
        var kind: String
        var size: Int
        var duration: Double?
        var codec: VideoCodec?
        var modified: Int
        var `protected`: Bool
        var writing: Bool
    }

    /// Durations read from the files, kept while a file's size and time stay the same.
    let durations = DurationCache()

    func register(on router: Router<BlackboxContext>) {
        router.post("/api/recording/start") { request, _ in try await setRecording(request, on: true) }
        router.post("/api/recording/stop") { request, _ in try await setRecording(request, on: false) }
        router.post("/api/events") { request, _ in try await event(request) }
        router.get("/api/recordings") { request, _ in
            // Walking the folder and reading durations is file I/O: off the event loop.
            try await NIOThreadPool.singleton.runIfActive { list(request) }
        }
        router.post("/api/recordings/protect") { request, _ in try await protect(request) }
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
        switch try await JSONBody.decode(CameraRequest.self, request) {
        case .success(let b): body = b
        case .failure(let e): return e.response
        }
        try body?.checkReason()
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
        switch try await JSONBody.decode(CameraRequest.self, request) {
        case .success(let b): body = b
        case .failure(let e): return e.response
        }
        try body?.checkReason()
        let reason = body?.reason ?? "api"
        let selected: [Camera]
        switch targets(request.uri.queryParameters["camera"].map(String.init) ?? body?.camera) {
        case .success(let c): selected = c
        case .failure(let e): return e.response
        }
        guard access != nil else { return noRecording() }
        let tickets = selected.compactMap { $0.recorder?.triggerEvent(reason: reason) }
        return JSON.response(["events": tickets], status: .accepted)
    }

    /// Default and largest `limit` of the recordings list.
    static let listLimit = (default: 500, max: 5000)

    /// Newest first; `camera`, `day` (YYYY-MM-DD) and `kind` (segment|event) filter, `limit` caps the count.
    private func list(_ request: Request) -> Response {
        guard let access else { return noRecording() }
        let query = request.uri.queryParameters
        let camera = query["camera"].map(String.init)
        let day = query["day"].map(String.init)
        let kind = query["kind"].map(String.init)
        if let kind, kind != "segment", kind != "event" {
            return JSON.error(.badRequest, "unknown kind", "kind '\(kind)' is not known; allowed: segment, event")
        }
        var limit = Self.listLimit.default
        if let text = query["limit"] {
            guard let n = Int(text), (1...Self.listLimit.max).contains(n) else {
                return JSON.error(.badRequest, "out of range", "limit '\(text)' is out of range; allowed: 1 to \(Self.listLimit.max)")
            }
            limit = n
        }
        let files = RecordingsTree.files(under: access.root)
        let markers = Set(files.filter { $0.relative.hasSuffix(RecordingsTree.protectedSuffix) }.map(\.relative))
        let matching = files.filter { f in
            (f.isVideo || f.isPartial) && (camera == nil || f.camera == camera) && (day == nil || f.day == day)
                && (kind == nil || (kind == "event") == f.isEvent)
        }
        let listed = matching.sorted { ($0.modified, $0.relative) > ($1.modified, $1.relative) }.prefix(limit).map { f in
            let scanned = durations.facts(of: f)
            return Listed(path: f.isPartial ? String(f.relative.dropLast(5)) : f.relative, camera: f.camera, day: f.day,
                   kind: f.isEvent ? "event" : "segment", size: f.size, duration: scanned?.seconds, codec: scanned?.codec, modified: f.modified,
                   protected: markers.contains(f.relative + RecordingsTree.protectedSuffix), writing: f.isPartial)
        }
        struct Answer: Codable { var root: String; var disk: DiskUsage?; var total: Int; var recordings: [Listed] }
        return JSON.response(Answer(root: access.root, disk: access.retention.usage, total: matching.count, recordings: Array(listed)))
    }

    private func protect(_ request: Request) async throws -> Response {
        let body: ProtectRequest
        switch try await JSONBody.decode(ProtectRequest.self, request, required: true) {
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

/// Seconds of video and codec per file, read once per version of the file (size and time), bounded.
final class DurationCache: Sendable {
    private struct Entry { var size: Int; var modified: Int; var facts: (seconds: Double, codec: VideoCodec)? }
    private let entries = Mutex<[String: Entry]>([:])
    private let capacity = 20_000

    /// Duration (to a tenth of a second) and codec; nil when the file cannot be read.
    func facts(of file: RecordingFile) -> (seconds: Double, codec: VideoCodec)? {
        if let e = entries.withLock({ $0[file.relative] }), e.size == file.size, e.modified == file.modified { return e.facts }
        let facts = (try? MP4Reader.scan(path: file.path)).map { (($0.duration * 10).rounded() / 10, $0.codec) }
        entries.withLock { table in
            if table.count >= capacity { table.removeAll() }
            table[file.relative] = Entry(size: file.size, modified: file.modified, facts: facts)
        }
        return facts
    }
}
