import Cameras
import Encoding
import Foundation
import Frames
import Platform
import HTTPTypes
import Hummingbird
import NIOPosix
import Recording
import Telemetry

/// Finding any moment: the timeline of a camera's recordings, continuous playback from any instant
/// across segments (the one being written included, up to its last whole fragment), and export of a span.
struct TimelineRoutes: Sendable {
    let cameras: [Camera]
    let access: RecordingsAccess?

    /// Longest span one timeline request covers.
    static let maxTimelineSeconds: Int64 = 7 * 86_400
    /// Longest export.
    static let maxExportSeconds: Int64 = 86_400
    /// How far one playback response reaches; the player asks again from where it ended.
    static let playSeconds: Int64 = 3600
    /// Speeds `/api/play` paces Motion JPEG at.
    static let speeds: [Double] = [0.5, 1, 2, 4, 8, 16]
    /// Two recordings this close follow each other without a gap.
    static let joinNanos: Int64 = 2_000_000_000

    func register(on router: Router<BlackboxContext>) {
        router.get("/api/timeline") { request, _ in
            // Directory listings and file heads: off the event loop.
            try await Blocking.run { try timeline(request) }
        }
        router.get("/api/play") { request, _ in try await play(request) }
        router.get("/api/export") { request, _ in try await export(request) }
        router.get("/api/track") { request, _ in try await track(request) }
        router.get("/api/gforce") { request, _ in try await gForce(request) }
    }

    /// Covered spans, gaps, event marks and files of a camera for a day or a span.
    struct Timeline: Codable {
        struct Span: Codable { var start: Double; var end: Double; var writing: Bool }
        struct Gap: Codable { var start: Double; var end: Double }
        struct Event: Codable {
            var start: Double; var end: Double; var path: String; var reason: String?; var `protected`: Bool; var writing: Bool
            /// event, parking or manual.
            var type: FileKind
        }
        struct File: Codable {
            var path: String; var start: Double; var end: Double; var codec: VideoCodec; var size: Int; var `protected`: Bool; var writing: Bool
        }
        var camera: String
        /// The span shown, in RFC 3339 and in Unix seconds.
        var from: String, to: String, fromEpoch: Double, toEpoch: Double
        /// Codec of the newest recording.
        var codec: VideoCodec?
        var spans: [Span]
        var gaps: [Gap]
        var events: [Event]
        var files: [File]
        /// When the car was parked (the ignition off).
        var parked: [Gap]
    }

    private func recordings() throws(HTTPErrorResponse) -> RecordingsAccess {
        guard let access else {
            throw HTTPErrorResponse(JSON.error(.conflict, "recording unavailable", "this daemon runs without a recordings folder"))
        }
        return access
    }

    private func camera(_ query: StrictQuery) throws(HTTPErrorResponse) -> String {
        guard let id = query["camera"] else {
            guard let first = cameras.first else { throw HTTPErrorResponse(JSON.error(.notFound, "no camera", "no camera is configured")) }
            return first.config.id
        }
        return try cameras.named(id).config.id
    }

    private func timeline(_ request: Request) throws -> Response {
        let query = try StrictQuery(request, allowed: ["camera", "day", "from", "to"])
        let access = try recordings()
        let camera = try camera(query)
        let from: Int64, to: Int64
        if let day = try query.day("day") {
            guard query["from"] == nil, query["to"] == nil else {
                throw HTTPErrorResponse(JSON.error(.badRequest, "day or span", "give day=YYYY-MM-DD or from= and to=, not both"))
            }
            guard let midnight = LocalTime.midnight(day), let next = LocalTime.midnight(LocalTime.stamp(midnight + 26 * 3600).day) else {
                throw HTTPErrorResponse(JSON.error(.badRequest, "bad day", "day '\(day)' is not a day; allowed: YYYY-MM-DD, like 2026-11-25"))
            }
            (from, to) = (Int64(midnight) * 1_000_000_000, Int64(next) * 1_000_000_000)
        } else if let f = try query.time("from"), let t = try query.time("to") {
            guard t > f, t - f <= Self.maxTimelineSeconds * 1_000_000_000 else {
                throw HTTPErrorResponse(JSON.error(.badRequest, "bad span", "to must be after from, and the span at most 7 days"))
            }
            (from, to) = (f, t)
        } else if query["from"] != nil || query["to"] != nil {
            throw HTTPErrorResponse(JSON.error(.badRequest, "bad span", "give both from= and to= (\(WallTime.allowed)), or day=YYYY-MM-DD"))
        } else {
            let today = LocalTime.stamp(Int(Date().timeIntervalSince1970)).day
            let midnight = LocalTime.midnight(today) ?? 0
            (from, to) = (Int64(midnight) * 1_000_000_000, Int64(LocalTime.midnight(LocalTime.stamp(midnight + 26 * 3600).day) ?? midnight + 86_400) * 1_000_000_000)
        }
        let found = access.index.recordings(camera: camera, from: from, to: to)
        func seconds(_ n: Int64) -> Double { (Double(n) / 1e6).rounded() / 1e3 }
        func isProtected(_ e: IndexedRecording) -> Bool { RecordingsTree.isProtected("\(access.root)/\(e.path)") }
        var spans: [Timeline.Span] = []
        var files: [Timeline.File] = []
        for e in found where e.kind == .segment {
            files.append(.init(path: e.path, start: seconds(e.start), end: seconds(e.end), codec: e.codec, size: e.size, protected: isProtected(e), writing: e.writing))
            if let last = spans.last, Int64(e.start) <= Int64(last.end * 1e9) + Self.joinNanos {
                spans[spans.count - 1].end = max(last.end, seconds(e.end))
                spans[spans.count - 1].writing = last.writing || e.writing
            } else {
                spans.append(.init(start: seconds(e.start), end: seconds(e.end), writing: e.writing))
            }
        }
        // Gaps inside the span, up to now: the future is not missing.
        var gaps: [Timeline.Gap] = []
        var covered = seconds(from)
        let until = min(seconds(to), Date().timeIntervalSince1970)
        for s in spans {
            if s.start > covered + 2, s.start > seconds(from) { gaps.append(.init(start: covered, end: min(s.start, until))) }
            covered = max(covered, s.end)
        }
        if until > covered + 2 { gaps.append(.init(start: covered, end: until)) }
        let events = found.filter { $0.kind == .event }.map {
            Timeline.Event(start: seconds($0.start), end: seconds($0.end), path: $0.path, reason: $0.reason, protected: isProtected($0), writing: $0.writing,
                           type: $0.type ?? FileKind.of($0.path))
        }
        let parked = ParkingJournal(root: access.root).spans(from: seconds(from), to: seconds(to), now: Date().timeIntervalSince1970)
            .map { Timeline.Gap(start: $0.start, end: $0.end) }
        return JSON.response(Timeline(camera: camera, from: WallTime.format(from), to: WallTime.format(to), fromEpoch: seconds(from), toEpoch: seconds(to),
                                      codec: found.last?.codec, spans: spans, gaps: gaps.filter { $0.end > $0.start }, events: events, files: files,
                                      parked: parked))
    }

    /// The files (`.part` for the one being written) of `camera`'s recordings overlapping the span.
    private func files(_ access: RecordingsAccess, camera: String, kind: RecordingKind, from: Int64, to: Int64) -> [String] {
        access.index.recordings(camera: camera, kind: kind, from: from, to: to).map { "\(access.root)/\($0.path)" + ($0.writing ? ".part" : "") }
    }

    /// Plays from `start` on across segments, skipping gaps: H.264 as one fragmented MP4 (a `<video>` plays
    /// it as it arrives), Motion JPEG as multipart JPEG at the recorded pace times `speed`.
    private func play(_ request: Request) async throws -> Response {
        let query = try StrictQuery(request, allowed: ["camera", "start", "speed"])
        let access = try recordings()
        let camera = try camera(query)
        guard let start = try query.time("start") else {
            throw HTTPErrorResponse(JSON.error(.badRequest, "missing start", "give start= the instant to play from (\(WallTime.allowed))"))
        }
        let speed = try query["speed"].map { text throws(HTTPErrorResponse) -> Double in
            guard let s = Double(text), Self.speeds.contains(s) else {
                throw HTTPErrorResponse(JSON.error(.badRequest, "bad speed", "speed '\(text.prefix(16))' is not offered; allowed: 0.5, 1, 2, 4, 8, 16"))
            }
            return s
        } ?? 1
        let end = start + Self.playSeconds * 1_000_000_000
        let plan = try await Blocking.run { () throws -> ExportPlan in
            do {
                return try ExportPlan.plan(files: files(access, camera: camera, kind: .segment, from: start, to: end), from: start, to: end)
            } catch {
                throw HTTPErrorResponse(JSON.error(.notFound, "nothing to play", "camera '\(camera)' has no recording in the hour from \(WallTime.format(start))"))
            }
        }
        var headers = HTTPFields()
        headers[.cacheControl] = "no-store"
        headers[.xStart] = WallTime.format(plan.report.startNanos)
        headers[.xStartEpoch] = String(format: "%.3f", Double(plan.report.startNanos) / 1e9)
        headers[.xEndEpoch] = String(format: "%.3f", Double(plan.report.endNanos) / 1e9)
        if plan.pieces[0].codec == .h264 {
            headers[.contentType] = "video/mp4"
            return Response(status: .ok, headers: headers, body: Self.body(plan))
        }
        headers[.contentType] = MJPEGPart.contentType
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            let reader = plan.reader()
            let began = ContinuousClock.now
            var sequence: UInt64 = 0
            var played = 0.0
            for piece in plan.pieces {
                let payload: [UInt8]? = try await Blocking.run { try? reader.samples(of: piece) }
                guard let payload else { break }
                var offset = piece.fragment.sizes[..<piece.keep.lowerBound].reduce(0) { $0 + Int($1) }
                for i in piece.keep {
                    let size = Int(piece.fragment.sizes[i])
                    let wall = piece.sampleStarts[i]
                    let time = CaptureTime(monotonicNanos: 0, wallSeconds: Int(wall / 1_000_000_000), wallNanos: Int(wall % 1_000_000_000))
                    let frame = payload[offset..<offset + size].withUnsafeBytes {
                        EncodedFrame(jpeg: $0, sequence: sequence, time: time, width: 0, height: 0, encodeNanos: 0)
                    }
                    try await writer.write(contentsOf: MJPEGPart.buffers(frame))
                    offset += size
                    sequence += 1
                    // Recorded pace: a frame is due its duration after the one before (gaps are skipped, not waited for).
                    played += Double(piece.sampleStarts[i + 1] - wall) / 1e9 / speed
                    try await Task.sleep(until: began + .milliseconds(Int(played * 1000)), clock: .continuous)
                }
            }
            try await writer.finish(nil)
        })
    }

    /// One MP4 of a span, no re-encoding: whole fragments with their signatures, the ends cut at frames.
    private func export(_ request: Request) async throws -> Response {
        let query = try StrictQuery(request, allowed: ["camera", "start", "end", "kind", "format"])
        let access = try recordings()
        let camera = try camera(query)
        let (start, end) = try span(query, names: ("start", "end"))
        switch query["format"] ?? "mp4" {
        case "mp4": break
        case "gpx": return try await gpx(access, camera: camera, start: start, end: end)
        case let other: throw HTTPErrorResponse(JSON.error(.badRequest, "unknown format", "format '\(other.prefix(32))' is not known; allowed: mp4, gpx"))
        }
        let kind: RecordingKind
        switch query["kind"] ?? "segment" {
        case "segment": kind = .segment
        case "event": kind = .event
        case let other: throw HTTPErrorResponse(JSON.error(.badRequest, "unknown kind", "kind '\(other.prefix(32))' is not known; allowed: segment, event"))
        }
        let plan = try await Blocking.run { () throws -> ExportPlan in
            do {
                return try ExportPlan.plan(files: files(access, camera: camera, kind: kind, from: start, to: end), from: start, to: end)
            } catch {
                throw HTTPErrorResponse(JSON.error(.notFound, "nothing to export", "camera '\(camera)' has no recording from \(WallTime.format(start)) to \(WallTime.format(end))"))
            }
        }
        var headers = Self.attachment(camera: camera, start: start, end: end, type: "video/mp4", suffix: "mp4")
        headers[.xStart] = WallTime.format(plan.report.startNanos)
        headers[.xEnd] = WallTime.format(plan.report.endNanos)
        // What is missing is said: a span with gaps exports what exists.
        if !plan.report.gaps.isEmpty {
            headers[.xGaps] = plan.report.gaps.map { "\(WallTime.format($0.startNanos)) \(String(format: "%.1f", $0.seconds))s" }.joined(separator: ", ")
        }
        return Response(status: .ok, headers: headers, body: Self.body(plan))
    }

    /// The span [`names.0`, `names.1`) of the query: both given, in order, at most 24 hours.
    private func span(_ query: StrictQuery, names: (String, String)) throws(HTTPErrorResponse) -> (Int64, Int64) {
        guard let start = try query.time(names.0), let end = try query.time(names.1) else {
            throw HTTPErrorResponse(JSON.error(.badRequest, "missing times", "give \(names.0)= and \(names.1)= (\(WallTime.allowed))"))
        }
        guard end > start, end - start <= Self.maxExportSeconds * 1_000_000_000 else {
            throw HTTPErrorResponse(JSON.error(.badRequest, "bad span", "\(names.1) must be after \(names.0), and the span at most 24 hours"))
        }
        return (start, end)
    }

    /// The GPS track of a span as GPX 1.1 (what map programs and gpsbabel read).
    private func gpx(_ access: RecordingsAccess, camera: String, start: Int64, end: Int64) async throws -> Response {
        let points = try await Blocking.run { RecordedTrack.points(files: files(access, camera: camera, kind: .segment, from: start, to: end), from: start, to: end) }
        guard !points.isEmpty else {
            throw HTTPErrorResponse(JSON.error(.notFound, "no track", "camera '\(camera)' has no GPS track from \(WallTime.format(start)) to \(WallTime.format(end))"))
        }
        let name = Self.downloadName(camera: camera, start: start, end: end, suffix: "gpx")
        let headers = Self.attachment(camera: camera, start: start, end: end, type: "application/gpx+xml", suffix: "gpx")
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: TrackDocument.gpx(points, name: name))))
    }

    /// The file name a download of `camera`'s span gets: camera, then the span's local start and end.
    private static func downloadName(camera: String, start: Int64, end: Int64, suffix: String) -> String {
        "\(camera)_\(LocalTime.stamp(Int(start / 1_000_000_000)).stamp)_\(LocalTime.stamp(Int(end / 1_000_000_000)).stamp).\(suffix)"
    }

    /// The headers of a download that the browser saves under its name and never caches.
    private static func attachment(camera: String, start: Int64, end: Int64, type: String, suffix: String) -> HTTPFields {
        var headers = HTTPFields()
        headers[.contentType] = type
        headers[.contentDisposition] = "attachment; filename=\"\(downloadName(camera: camera, start: start, end: end, suffix: suffix))\""
        headers[.cacheControl] = "no-store"
        return headers
    }

    /// The GPS track of a span as GeoJSON: a LineString with each point's time, speed and heading, and the stretches
    /// without fix.
    private func track(_ request: Request) async throws -> Response {
        let query = try StrictQuery(request, allowed: ["camera", "from", "to"])
        let access = try recordings()
        let camera = try camera(query)
        let (from, to) = try span(query, names: ("from", "to"))
        let points = try await Blocking.run { RecordedTrack.points(files: files(access, camera: camera, kind: .segment, from: from, to: to), from: from, to: to) }
        let body = try JSONSerialization.data(withJSONObject: TrackDocument.geoJSON(points, camera: camera), options: [.sortedKeys])
        var headers = HTTPFields()
        headers[.contentType] = "application/geo+json"
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// The accelerometer's peak change from gravity over a span, in `buckets` equal parts (default 500): the timeline's
    /// g-force graph.
    private func gForce(_ request: Request) async throws -> Response {
        let query = try StrictQuery(request, allowed: ["camera", "from", "to", "buckets"])
        let access = try recordings()
        let camera = try camera(query)
        let (from, to) = try span(query, names: ("from", "to"))
        let buckets = try query.integer("buckets", in: 1...2000) ?? 500
        let peaks = try await Blocking.run { RecordedTrack.gForce(files: files(access, camera: camera, kind: .segment, from: from, to: to), from: from, to: to, buckets: buckets) }
        struct Answer: Codable {
            var camera: String; var fromEpoch: Double; var bucketSeconds: Double
            /// Peak change from gravity per bucket, g (null: nothing recorded).
            var peaks: [Double?]
        }
        return JSON.response(Answer(camera: camera, fromEpoch: Double(from) / 1e9, bucketSeconds: Double((to - from) / Int64(buckets)) / 1e9,
                                    peaks: peaks.map { $0.map { ($0 * 100).rounded() / 100 } }))
    }

    /// The plan's bytes, read a fragment at a time on the blocking-I/O pool.
    private static func body(_ plan: ExportPlan) -> ResponseBody {
        ResponseBody { writer in
            let reader = plan.reader()
            while let chunk = try await Blocking.run({ try reader.nextChunk() }) {
                try await writer.write(ByteBuffer(bytes: chunk))
            }
            try await writer.finish(nil)
        }
    }
}
