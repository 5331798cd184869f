import Encoding
import Foundation
import Frames
import HTTPTypes
import Hummingbird
import NIOPosix
import Recording

/// Recordings over HTTP: download with Range (`/recordings/PATH`) and replay in a browser as MJPEG
/// at the recorded pace (`/recordings/PATH/play?t=SECONDS`). Paths resolve inside the recordings
/// folder only: no `..`, no absolute paths, no hidden names, no symlinks.
struct RecordingFiles: Sendable {
    let access: RecordingsAccess?

    func register(on router: Router<BlackboxContext>) {
        router.get("/recordings/**") { request, context in
            try await serve(request, context: context, parts: context.parameters.getCatchAll().map(String.init))
        }
    }

    private func serve(_ request: Request, context: BlackboxContext, parts: [String]) async throws -> Response {
        guard let access else { return JSON.error(.conflict, "recording unavailable", "this daemon runs without a recordings folder") }
        let play = parts.last == "play"
        let relative = (play ? parts.dropLast() : parts[...]).joined(separator: "/")
        // The segment being written is served by its final name, up to its last whole fragment.
        guard relative.hasSuffix(".mp4"), let path = RecordingsTree.resolve(relative, under: access.root)
                ?? RecordingsTree.resolve(relative + ".part", under: access.root) else {
            return JSON.error(.notFound, "no such recording", "no recording '\(relative)' under the recordings folder")
        }
        return play ? try replay(path, request) : try await download(path, name: parts.last ?? "recording.mp4", request, context)
    }

    // MARK: Download

    /// A byte range from a `Range` header: nil when absent; throws when it cannot be satisfied.
    static func range(_ header: String?, size: Int) throws(RangeError) -> ClosedRange<Int>? {
        guard let header else { return nil }
        guard header.hasPrefix("bytes="), !header.contains(","), size > 0 else { throw RangeError() }
        let spec = header.dropFirst(6).split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard spec.count == 2 else { throw RangeError() }
        let (a, b) = (spec[0].trimmingCharacters(in: .whitespaces), spec[1].trimmingCharacters(in: .whitespaces))
        if a.isEmpty {
            guard let n = Int(b), n > 0 else { throw RangeError() }
            return max(0, size - n)...(size - 1)
        }
        guard let start = Int(a), start >= 0, start < size else { throw RangeError() }
        if b.isEmpty { return start...(size - 1) }
        guard let end = Int(b), end >= start else { throw RangeError() }
        return start...min(end, size - 1)
    }

    struct RangeError: Error {}

    private func download(_ path: String, name: String, _ request: Request, _ context: BlackboxContext) async throws -> Response {
        var st = stat()
        guard stat(path, &st) == 0 else { return JSON.error(.notFound, "no such recording", "it was just deleted") }
        var size = Int(st.st_size)
        if path.hasSuffix(".part") {
            // Only what is whole: a valid fragmented MP4 up to the last complete fragment (read, never changed).
            size = try await Blocking.run { try MP4Reader.scan(path: path).validEnd }
            guard size > 0 else { return JSON.error(.notFound, "nothing recorded yet", "the segment being written has no whole part yet; try in a second") }
        }
        var headers = HTTPFields()
        headers[.contentType] = "video/mp4"
        headers[.acceptRanges] = "bytes"
        headers[.contentDisposition] = "attachment; filename=\"\(name)\""
        let fileIO = FileIO()
        let range: ClosedRange<Int>?
        do {
            range = try Self.range(request.headers[.range], size: size)
        } catch {
            var error = JSON.error(.rangeNotSatisfiable, "bad range",
                                   "Range '\(request.headers[.range] ?? "")' cannot be served; allowed: one range 'bytes=START-END', 'bytes=START-' or 'bytes=-LAST' within \(size) bytes")
            error.headers[.contentRange] = "bytes */\(size)"
            return error
        }
        guard let range else {
            headers[.contentLength] = String(size)
            // A segment being written is served up to its last whole fragment only.
            let body = size == Int(st.st_size) ? try await fileIO.loadFile(path: path, context: context)
                : try await fileIO.loadFile(path: path, range: 0...(size - 1), context: context)
            return Response(status: .ok, headers: headers, body: body)
        }
        headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound)/\(size)"
        headers[.contentLength] = String(range.count)
        return Response(status: .partialContent, headers: headers, body: try await fileIO.loadFile(path: path, range: range, context: context))
    }

    // MARK: Replay

    private func replay(_ path: String, _ request: Request) throws -> Response {
        let start: Double
        if let t = request.uri.queryParameters["t"] {
            guard let v = Double(t), v >= 0, v.isFinite else {
                return JSON.error(.badRequest, "bad time", "t='\(t)' is not a number of seconds from the start (0 or more)")
            }
            start = v
        } else {
            start = 0
        }
        let scan = try MP4Reader.scan(path: path)
        guard scan.codec == .mjpeg else {
            return JSON.error(.conflict, "not Motion JPEG",
                              "this recording is \(scan.codec): play it in a <video> element from /recordings/PATH (HTTP Range works); replay is for MJPEG recordings")
        }
        var samples: [(offset: Int, size: Int, time: Double, duration: Double)] = []
        for f in scan.fragments {
            var offset = f.dataOffset, t = f.baseTime
            for (size, duration) in zip(f.sizes, f.durations) {
                samples.append((offset, Int(size), Double(t) / Double(scan.timescale), Double(duration) / Double(scan.timescale)))
                offset += Int(size)
                t += UInt64(duration)
            }
        }
        guard let first = samples.firstIndex(where: { $0.time + $0.duration > start }) else {
            return JSON.error(.badRequest, "bad time", String(format: "t=%.3f is past the end of the recording (%.3f s)", start, scan.duration))
        }
        var headers = HTTPFields()
        headers[.contentType] = MJPEGPart.contentType
        headers[.cacheControl] = "no-store"
        let chosen = Array(samples[first...])
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return try await writer.finish(nil) }
            defer { close(fd) }
            let began = ContinuousClock.now
            let offset = chosen[0].time
            for (i, sample) in chosen.enumerated() {
                // Disk reads happen on NIO's blocking-I/O pool, never on the cooperative pool.
                let bytes: [UInt8]? = try await Blocking.run {
                    var out = [UInt8](repeating: 0, count: sample.size)
                    let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress, sample.size, off_t(sample.offset)) }
                    return n == sample.size ? out : nil
                }
                guard let bytes else { break }
                let time = CaptureTime(monotonicNanos: 0, wallSeconds: Int(sample.time), wallNanos: Int(sample.time.truncatingRemainder(dividingBy: 1) * 1e9))
                let part = bytes.withUnsafeBytes {
                    EncodedFrame(jpeg: $0, sequence: UInt64(i), time: time, width: 0, height: 0, encodeNanos: 0)
                }
                try await writer.write(contentsOf: MJPEGPart.buffers(part))
                // Recorded pace: frame i is due at its own time after the first.
                let due = began + .milliseconds(Int(((sample.time + sample.duration) - offset) * 1000))
                try await Task.sleep(until: due, clock: .continuous)
            }
            try await writer.finish(nil)
        })
    }
}
