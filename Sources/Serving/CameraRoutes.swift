import Analysis
import Cameras
import Encoding
import Foundation
import Frames
import Hummingbird
import NIOPosix
import Recording
import Rules

/// `/api/cameras`: each camera's settings and the choices its source offers; settings and source
/// changes applied without restarting the daemon.
struct CameraRoutes: Sendable {
    let cameras: [Camera]
    /// Called (on a blocking-I/O thread) after a change was applied, to keep it across restarts.
    let onChange: @Sendable () -> Void

    func register(on router: Router<BlackboxContext>) {
        router.get("/api/cameras") { _, _ in
            // Listing a V4L2 camera's sizes opens the device: off the event loop.
            try await Blocking.run { JSON.response(["cameras": cameras.map(Self.describe)]) }
        }
        router.post("/api/cameras/:id/settings") { request, context in try await change(request, id: context.parameters.get("id") ?? "") }
        router.post("/api/cameras/:id/source") { request, context in try await switchSource(request, id: context.parameters.get("id") ?? "") }
    }

    /// The settings in force.
    struct Settings: Codable {
        var width: Int
        var height: Int
        var fps: Int
        var quality: Int
        var overlay: Bool
        var codec: VideoCodec
        /// Nil when the camera does not record.
        var mode: RecordingMode?
        /// Whether its sound is muted (nil: the camera has no sound).
        var muted: Bool?
    }

    /// The motion detector as configured: whether it runs and its zones (drawn over the live view).
    struct Motion: Codable {
        var enabled: Bool
        var zones: [MotionZone]
    }

    /// One camera in `/api/cameras`.
    struct Described: Codable {
        var id: String
        var source: String
        var state: String
        var settings: Settings
        var choices: SettingsChoices
        var modes: [RecordingMode]
        var motion: Motion
    }

    static func describe(_ camera: Camera) -> Described {
        let c = camera.config
        let status = camera.status()
        return Described(id: c.id, source: status.source, state: status.state,
                         settings: Settings(width: c.geometry.width, height: c.geometry.height, fps: c.geometry.fps,
                                            quality: status.quality, overlay: status.overlay, codec: camera.codec,
                                            mode: camera.recordMode, muted: camera.sound == nil ? nil : c.audioMuted),
                         choices: SettingsChoices.for(c), modes: camera.recorder == nil ? [] : RecordingMode.allCases,
                         motion: Motion(enabled: camera.motion != nil, zones: camera.motion?.settings.zones ?? []))
    }

    /// A settings change: any of the fields; width and height go together.
    struct Change: JSONRequestBody {
        var width: Int?
        var height: Int?
        var fps: Int?
        var quality: Int?
        var overlay: Bool?
        var codec: String?
        var mode: String?
        var muted: Bool?

        static let fields: Set<String> = ["width", "height", "fps", "quality", "overlay", "codec", "mode", "muted"]
    }

    /// The camera named in the path and the request's required JSON body, or the error answer.
    private func cameraAndBody<T: JSONRequestBody>(_ id: String, _ request: Request, _ type: T.Type) async throws -> (Camera, T) {
        let camera = try cameras.named(id)
        // Required: a missing body has thrown.
        return (camera, try await JSONBody.decode(type, request, required: true)!)
    }

    private func change(_ request: Request, id: String) async throws -> Response {
        let (camera, body) = try await cameraAndBody(id, request, Change.self)
        if let q = body.quality, let problem = CameraConfig.qualityRule.problem(q, name: "quality") {
            return JSON.error(.badRequest, "out of range", problem)
        }
        let codec = try body.codec.map { name throws(HTTPErrorResponse) -> VideoCodec in
            do throws(RuleError) {
                return try VideoCodec.parse(name, name: "codec")
            } catch {
                throw HTTPErrorResponse(JSON.error(.badRequest, "unknown codec", error.description))
            }
        }
        let mode = try body.mode.map { name throws(HTTPErrorResponse) -> RecordingMode in
            let mode: RecordingMode
            do throws(RuleError) {
                mode = try RecordingMode.parse(name, name: "mode")
            } catch {
                throw HTTPErrorResponse(JSON.error(.badRequest, "unknown mode", error.description))
            }
            guard camera.recorder != nil else {
                throw HTTPErrorResponse(JSON.error(.conflict, "recording unavailable", "this daemon runs without a recordings folder"))
            }
            return mode
        }
        if body.muted != nil && camera.sound == nil {
            return JSON.error(.conflict, "no sound", "camera '\(id)' records no sound; give it `audio = \"alsa:DEVICE\"` in its [[camera]] table first")
        }
        if (body.width == nil) != (body.height == nil) {
            return JSON.error(.badRequest, "incomplete size", "give width and height together")
        }
        let current = camera.config.geometry
        let wanted = FrameGeometry(width: body.width ?? current.width, height: body.height ?? current.height, fps: body.fps ?? current.fps)
        if wanted != current {
            let config = camera.config
            let choices = try await Blocking.run { SettingsChoices.for(config) }
            guard choices.offers(wanted) else {
                return JSON.error(.badRequest, "size not offered", "\(wanted) is not offered by \(camera.source.description); allowed: \(choices.summary)")
            }
            // Restarting a source blocks (device close, child reaped): off the event loop.
            do {
                try await Blocking.run { try camera.resize(to: wanted) }
            } catch {
                return JSON.error(.conflict, "size not applied", "\(error); the previous size \(current) is running again")
            }
        }
        camera.setEncoding(quality: body.quality, overlay: body.overlay)
        if let mode { camera.setRecordMode(mode) }
        if let muted = body.muted { camera.setAudioMuted(muted) }
        if let codec, codec != camera.codec {
            // Stopping an encoder thread blocks: off the event loop. The next segment is in the new codec.
            try await Blocking.run { camera.setCodec(codec) }
        }
        return try await Blocking.run {
            onChange()
            return JSON.response(Self.describe(camera))
        }
    }

    struct SourceRequest: JSONRequestBody {
        var source: String

        static let fields: Set<String> = ["source"]
    }

    /// Switches a camera to another source of the same size and rate, e.g. `{"source": "rpicam:1"}`.
    private func switchSource(_ request: Request, id: String) async throws -> Response {
        let (camera, body) = try await cameraAndBody(id, request, SourceRequest.self)
        let wanted: CameraConfig
        do {
            wanted = try CameraConfig.parse("\(id)=\(body.source)", defaults: camera.config)
        } catch {
            return JSON.error(.badRequest, "bad source", error.description)
        }
        guard wanted.geometry == camera.config.geometry else {
            return JSON.error(.badRequest, "size change", "change size and rate with POST /api/cameras/\(id)/settings; allowed here: the camera's \(camera.config.geometry)")
        }
        do {
            try await Blocking.run { try camera.switchSource(to: wanted.source) }
        } catch {
            return JSON.error(.conflict, "source did not start", "\(error); the previous source is running again")
        }
        try? await Blocking.run(onChange)
        return JSON.response(camera.status())
    }
}
