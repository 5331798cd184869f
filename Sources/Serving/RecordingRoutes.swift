import Cameras
import Encoding
import Evidence
import Foundation
import Hummingbird
import NIOPosix
import Recording
import Rules
import ServiceSettings
import Synchronization

/// Where the recordings are, for the API.
public struct RecordingsAccess: Sendable {
    /// Recordings root.
    public let root: String
    /// Loop overwrite policy (also the source of disk usage figures).
    public let retention: Retention
    /// Segments recovered at start-up.
    public let recovered: Int
    /// Public half of the device key that signs the recordings (nil: unsigned).
    public let publicKey: SigningPublicKey?
    /// What the recordings list shows of each file, cached per version of the file.
    let facts: RecordingFactsCache
    /// Which recordings cover which time (the timeline, playback and export).
    public let index: RecordingIndex
    /// How the commands run for finished recordings fare (nil: none configured).
    public let hooks: (@Sendable () -> HookStatus)?

    /// Creates the access description.
    public init(root: String, retention: Retention, recovered: Int = 0, publicKey: SigningPublicKey? = nil, hooks: (@Sendable () -> HookStatus)? = nil) {
        self.publicKey = publicKey
        self.hooks = hooks
        facts = RecordingFactsCache(expected: publicKey)
        index = RecordingIndex(root: root)
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
        /// normal, event, parking or manual (as the file name says).
        var type: FileKind
        var size: Int
        var duration: Double?
        var codec: VideoCodec?
        /// Whether the file has a sound track.
        var sound: Bool?
        var modified: Int
        var `protected`: Bool
        var writing: Bool
        /// Signature check of links, signatures and order (samples are re-hashed by `/api/recordings/verify`).
        var signature: SignatureVerdict?
        /// Why an event clip was written (`motion`, `api`, `button`, `mqtt` or the reason given); nil for segments.
        var reason: String?
    }

    /// What `/api/recordings/verify` answers.
    struct Verified: Codable {
        var path: String
        var verdict: SignatureVerdict
        var findings: [String]
        var fragments: Int
        var signedFragments: Int
        var chain: String?
        var signer: String?
        var expectedSigner: String?
    }

    /// What `/api/device-key` answers.
    struct KeyAnswer: Codable {
        var algorithm = "Ed25519"
        var publicKey: String
        var fingerprint: String
        var pem: String
    }

    func register(on router: Router<BlackboxContext>) {
        router.post("/api/recording/start") { request, _ in try await setRecording(request, on: true) }
        router.post("/api/recording/stop") { request, _ in try await setRecording(request, on: false) }
        router.post("/api/events") { request, _ in try await event(request) }
        router.get("/api/recordings") { request, _ in
            // Walking the folder and reading durations is file I/O: off the event loop.
            try await Blocking.run { try list(request) }
        }
        router.post("/api/recordings/protect") { request, _ in try await protect(request) }
        router.get("/api/recordings/verify") { request, _ in
            // Re-hashing every sample reads the whole file: off the event loop.
            try await Blocking.run { try verify(request) }
        }
        router.get("/api/device-key") { _, _ in try deviceKey() }
    }

    /// The cameras a request names (query `camera` or body `camera`), all when none is named.
    private func targets(_ id: String?) throws(HTTPErrorResponse) -> [Camera] {
        guard let id else { return cameras }
        return [try cameras.named(id)]
    }

    private func noRecording() -> Response {
        JSON.error(.conflict, "recording unavailable", "this daemon runs without a recordings folder")
    }

    private func setRecording(_ request: Request, on: Bool) async throws -> Response {
        let body = try await JSONBody.decode(CameraRequest.self, request)
        try body?.checkReason()
        let selected = try targets(request.uri.queryParameters["camera"].map(String.init) ?? body?.camera)
        guard access != nil else { return noRecording() }
        for camera in selected { camera.setRecording(on) }
        struct Answer: Codable { var id: String; var recording: RecorderStatus? }
        return JSON.response(["cameras": selected.map { Answer(id: $0.config.id, recording: $0.recorder?.status()) }])
    }

    private func event(_ request: Request) async throws -> Response {
        let body = try await JSONBody.decode(CameraRequest.self, request)
        try body?.checkReason()
        let reason = body?.reason ?? "api"
        let selected = try targets(request.uri.queryParameters["camera"].map(String.init) ?? body?.camera)
        guard access != nil else { return noRecording() }
        let tickets = selected.compactMap { $0.recorder?.triggerEvent(reason: reason, manual: true) }
        return JSON.response(["events": tickets], status: .accepted)
    }

    /// Default and largest `limit` of the recordings list.
    static let listLimit = (default: 500, max: 5000)

    /// Newest first; `camera`, `day` (YYYY-MM-DD), `kind` (segment|event), `type` (normal|event|parking|manual) and `reason` (of
    /// event clips) filter, `limit` caps the count;
    /// `before` (the `next` of the page before) or `offset` pages. New files arrive at the front, so a
    /// cursor returns every file once while recording goes on.
    private func list(_ request: Request) throws -> Response {
        guard let access else { return noRecording() }
        let query = try StrictQuery(request, allowed: ["camera", "day", "kind", "type", "reason", "limit", "before", "offset"])
        let camera = query["camera"]
        let day = try query.day("day")
        let kind = query["kind"]
        if let kind, kind != "segment", kind != "event" {
            throw HTTPErrorResponse(JSON.error(.badRequest, "unknown kind", "kind '\(kind.prefix(32))' is not known; allowed: segment, event"))
        }
        let type = try query["type"].map { text throws(HTTPErrorResponse) -> FileKind in
            do throws(RuleError) { return try FileKind.parse(text, name: "type") } catch { throw HTTPErrorResponse(JSON.error(.badRequest, "unknown type", error.description)) }
        }
        let limit = try query.integer("limit", in: 1...Self.listLimit.max) ?? Self.listLimit.default
        let offset = try query.integer("offset", in: 0...1_000_000) ?? 0
        var cursor: (modified: Int, path: String)?
        if let text = query["before"] {
            // Split on the byte: a "~" followed by a combining mark is one Character.
            let bytes = Array(text.utf8)
            let tilde = bytes.firstIndex(of: UInt8(ascii: "~")) ?? bytes.endIndex
            let parts = tilde < bytes.endIndex
                ? [String(decoding: bytes[..<tilde], as: UTF8.self), String(decoding: bytes[(tilde + 1)...], as: UTF8.self)] : [text]
            // A time past what Int holds is simply later than every file.
            guard parts.count == 2, !parts[0].isEmpty, parts[0].allSatisfy(\.isASCII), parts[0].allSatisfy(\.isNumber),
                  let modified = Int(parts[0]) ?? Int.max as Int? else {
                throw HTTPErrorResponse(JSON.error(.badRequest, "bad cursor", "before '\(text.prefix(64))' is not a cursor; allowed: the 'next' value of the page before"))
            }
            cursor = (modified, String(parts[1]))
        }
        let files = RecordingsTree.files(under: access.root)
        let markers = Set(files.filter { $0.relative.hasSuffix(RecordingsTree.protectedSuffix) }.map(\.relative))
        func name(_ f: RecordingFile) -> String { f.isPartial ? String(f.relative.dropLast(5)) : f.relative }
        let reason = query["reason"]
        if let reason, reason.count > 200 || reason.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw HTTPErrorResponse(JSON.error(.badRequest, "bad reason", "reason '\(reason.prefix(32))…' is not a reason; allowed: printable text up to 200 characters, e.g. motion"))
        }
        let matching = files.filter { f in
            (f.isVideo || f.isPartial) && (camera == nil || f.camera == camera) && (day == nil || f.day == day)
                && (kind == nil || (kind == "event") == f.isEvent) && (type == nil || FileKind.of(f.relative) == type)
                && (reason == nil || (f.isEvent && access.facts.facts(of: f)?.reason == reason))
        }
        let ordered = matching.sorted { ($0.modified, name($0)) > ($1.modified, name($1)) }
            .filter { f in cursor.map { (f.modified, name(f)) < ($0.modified, $0.path) } ?? true }
            .dropFirst(offset)
        let page = ordered.prefix(limit)
        let listed = page.map { f in
            let scanned = access.facts.facts(of: f)
            return Listed(path: name(f), camera: f.camera, day: f.day,
                   kind: f.isEvent ? "event" : "segment", type: FileKind.of(f.relative), size: f.size, duration: scanned?.seconds, codec: scanned?.codec, sound: scanned?.sound, modified: f.modified,
                   protected: markers.contains(f.relative + RecordingsTree.protectedSuffix), writing: f.isPartial,
                   signature: scanned?.signature, reason: f.isEvent ? scanned?.reason : nil)
        }
        struct Answer: Codable {
            var root: String; var disk: DiskUsage?; var total: Int; var days: [String]; var next: String?; var recordings: [Listed]
        }
        let next = ordered.count > limit ? page.last.map { "\($0.modified)~\(name($0))" } : nil
        return JSON.response(Answer(root: access.root, disk: access.retention.usage, total: matching.count,
                                    days: access.index.days(camera: camera), next: next, recordings: Array(listed)))
    }

    /// The public key that verifies the recordings, and its fingerprint.
    private func deviceKey() throws -> Response {
        guard let access else { return noRecording() }
        guard let key = access.publicKey else {
            throw HTTPErrorResponse(JSON.error(.notFound, "no device key", "this daemon does not sign its recordings"))
        }
        return JSON.response(KeyAnswer(publicKey: key.base64, fingerprint: key.fingerprint, pem: key.pem))
    }

    /// Full signature check of one recording (`?path=` as listed): every sample against what was signed.
    private func verify(_ request: Request) throws -> Response {
        guard let access else { return noRecording() }
        let query = request.uri.queryParameters
        if let unknown = query.map({ String($0.key) }).first(where: { $0 != "path" }) {
            throw HTTPErrorResponse(JSON.error(.badRequest, "unknown parameter", "parameter '\(unknown)' is not known; allowed: path"))
        }
        guard let relative = query["path"].map(String.init), !relative.isEmpty else {
            throw HTTPErrorResponse(JSON.error(.badRequest, "missing path", "give ?path= a recording as /api/recordings lists it, e.g. front/2026-11-25/20261125-140000_front.mp4"))
        }
        // A segment being written is listed by its final name: check the `.part` while it lasts.
        guard relative.hasSuffix(".mp4"), let path = RecordingsTree.resolve(relative, under: access.root)
                ?? RecordingsTree.resolve(relative + ".part", under: access.root) else {
            throw HTTPErrorResponse(JSON.error(.notFound, "no such recording", "no recording '\(relative)' under the recordings folder"))
        }
        let r = SignatureVerifier.verify(path: path, expected: access.publicKey)
        return JSON.response(Verified(path: relative, verdict: r.verdict, findings: r.findings, fragments: r.fragments,
                                      signedFragments: r.signedFragments, chain: r.chainID, signer: r.signer,
                                      expectedSigner: access.publicKey?.fingerprint))
    }

    private func protect(_ request: Request) async throws -> Response {
        // Required: a missing body has thrown.
        let body = try await JSONBody.decode(ProtectRequest.self, request, required: true)!
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

/// Seconds of video, codec, sound and signature check per file, read once per version of the file (size and time), bounded.
final class RecordingFactsCache: Sendable {
    /// What the list shows of a file.
    typealias Facts = (seconds: Double, codec: VideoCodec, signature: SignatureVerdict, reason: String?, sound: Bool)
    private struct Entry { var size: Int; var modified: Int; var facts: Facts? }
    private let entries = Mutex<[String: Entry]>([:])
    private let capacity = 20_000
    private let expected: SigningPublicKey?

    /// A cache checking signatures against `expected`.
    init(expected: SigningPublicKey?) {
        self.expected = expected
    }

    /// Duration (to a tenth of a second), codec and quick signature verdict; nil when the file cannot be read.
    func facts(of file: RecordingFile) -> Facts? {
        if let e = entries.withLock({ $0[file.relative] }), e.size == file.size, e.modified == file.modified { return e.facts }
        let facts = (try? MP4Reader.scan(path: file.path)).map { scan -> Facts in
            let signature = SignatureVerifier.verify(scan: scan, path: file.path, expected: expected, readSamples: false).verdict
            return ((scan.duration * 10).rounded() / 10, scan.codec, signature, scan.comment, scan.sound != nil)
        }
        entries.withLock { table in
            if table.count >= capacity { table.removeAll() }
            table[file.relative] = Entry(size: file.size, modified: file.modified, facts: facts)
        }
        return facts
    }
}
