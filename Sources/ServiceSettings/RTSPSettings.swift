import Foundation

/// `[rtsp]`: the RTSP server that NVRs and players pull the cameras' H.264 from, and an optional push to a central server.
public struct RTSPSettings: Sendable, Equatable {
    /// Whether the server runs (default on).
    public var enabled = true
    /// Address to listen on; nil: the web server's.
    public var host: String?
    /// Port (8554, as MediaMTX and go2rtc; 0: any free one).
    public var port = 8554
    /// Path of each camera by id (`front` → `rtsp://PI:8554/front`); a camera not listed is served under its id.
    public var paths: [String: String] = [:]
    /// Where to push the stream (RTSP ANNOUNCE/RECORD), e.g. `rtsp://central:8554/{path}`; `{path}` and `{camera}` are
    /// replaced per camera. Without a placeholder only one camera may be configured.
    public var publish: String?

    /// The defaults.
    public init() {}

    /// The path `camera` is served under, without the leading `/`.
    public func path(for camera: String) -> String {
        paths[camera] ?? camera
    }

    /// Whether `path` can be a mount: 1-64 letters, digits, `-`, `_`, `.` and inner `/`.
    public static func isValidPath(_ path: String) -> Bool {
        (1...64).contains(path.count) && !path.hasPrefix("/") && !path.hasSuffix("/") && !path.contains("//")
            && path.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "-_./".unicodeScalars.contains($0) }
    }

    /// The push address for `camera`, nil when nothing is pushed.
    public func publishURL(for camera: String) -> String? {
        publish.map { $0.replacingOccurrences(of: "{path}", with: path(for: camera)).replacingOccurrences(of: "{camera}", with: camera) }
    }

    /// Checks ranges and names against `cameras` (their ids, in order).
    public func validate(cameras: [String]) throws(RTSPError) {
        if let problem = ServerSettings.portRule.problem(port, name: "[rtsp] port") { throw RTSPError(problem) }
        var seen: [String: String] = [:]
        for id in cameras {
            let p = path(for: id)
            guard Self.isValidPath(p) else {
                throw RTSPError("camera '\(id)': RTSP path '\(p)' is not allowed; allowed: 1 to 64 letters, digits, '-', '_', '.', and '/' inside")
            }
            if let other = seen[p] { throw RTSPError("cameras '\(other)' and '\(id)' both have the RTSP path '\(p)'; every camera needs its own") }
            seen[p] = id
        }
        if let unknown = paths.keys.sorted().first(where: { !cameras.contains($0) }) {
            throw RTSPError("rtsp_path is set for camera '\(unknown)', which is not configured")
        }
        if let publish {
            guard publish.hasPrefix("rtsp://") || publish.hasPrefix("rtsps://"), publish.count > 9 else {
                throw RTSPError("[rtsp] publish = \"\(publish)\" is not an RTSP address; allowed: rtsp://HOST[:PORT]/PATH, e.g. rtsp://central:8554/{path}")
            }
            if cameras.count > 1, !publish.contains("{path}"), !publish.contains("{camera}") {
                throw RTSPError("[rtsp] publish needs {path} or {camera} with \(cameras.count) cameras, e.g. rtsp://central:8554/{path}; else every camera would push to the same address")
            }
        }
    }
}

/// A rejected RTSP setting, or a server that could not start, with what is allowed.
public struct RTSPError: Error, CustomStringConvertible {
    /// What was wrong.
    public let description: String

    /// An error saying `description`.
    public init(_ description: String) {
        self.description = description
    }
}
