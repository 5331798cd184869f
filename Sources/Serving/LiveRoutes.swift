import Cameras
import Encoding
import FrameBus
import HTTPTypes
import Hummingbird
import NIOCore
import NIOPosix
import Platform
import Recording

/// `/stream.mp4`: live H.264 as fragmented MP4 (an init section, then a fragment per frame) for the web UI's
/// Media Source Extensions player and for players such as ffplay or VLC — about a fifth of the bytes of
/// `/stream`. It starts at the next keyframe (every second) and skips to a later keyframe when the client
/// falls behind. A camera recording MJPEG runs its H.264 encoder while such clients watch (one encoder however many).
/// A camera whose sound is running sends it too, as a second track (the page starts muted, as browsers require).
struct LiveRoutes: Sendable {
    let cameras: [Camera]

    func register(on router: Router<BlackboxContext>) {
        router.get("/stream.mp4") { request, _ in try await stream(request) }
    }

    private func stream(_ request: Request) async throws -> Response {
        let query = try StrictQuery(request, allowed: ["camera", "t"])
        let camera: Camera
        if let id = query["camera"] {
            camera = try cameras.named(id)
        } else {
            guard let first = cameras.first else { throw HTTPErrorResponse(JSON.error(.notFound, "no camera", "no camera is configured")) }
            camera = first
        }
        // Starting the encoder (for a camera recording MJPEG) blocks: off the event loop.
        try await Blocking.run { camera.joinH264Live() }
        let client = camera.live.join(.h264)
        // Sound joins when it is running now; units wait in a bounded queue for the next fragment.
        let sound = camera.subscribeSound()
        let audio = sound?.format
        // The first keyframe says the codec and where media time zero is on the wall clock.
        let first = await Self.keyframe(camera.h264Bus)
        guard let first, let initSection = LiveFragments.initSection(for: first, audio: audio), let sets = first.parameterSets else {
            sound?.units.cancel()
            camera.live.leave(client)
            try? await Blocking.run { camera.leaveH264Live() }
            throw HTTPErrorResponse(JSON.error(.serviceUnavailable, "no frame", "camera '\(camera.config.id)' has not produced an H.264 keyframe yet"))
        }
        var headers = HTTPFields()
        headers[.contentType] = "video/mp4"
        headers[.cacheControl] = "no-store, no-cache, must-revalidate, max-age=0"
        headers[.xCodec] = LiveFragments.codecString(sets, audio: audio)
        headers[.xStartEpoch] = String(LiveFragments.startEpoch(of: first))
        let fps = camera.config.geometry.fps
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            // After `first`: asked again before a newer frame came, the bus would give `first` once more, and the
            // sound taken with that repeat went nowhere (a live test saw one unit skipped).
            let viewer = camera.h264Bus.join(after: first)
            defer {
                sound?.units.cancel()
                camera.h264Bus.leave(viewer)
                camera.live.leave(client)
                Blocking.start { camera.leaveH264Live() }
            }
            var fragments = LiveFragments(fps: fps, audio: audio)
            try await writer.write(ByteBuffer(bytes: initSection))
            camera.live.sent(initSection.count, to: client)
            var next: EncodedFrame? = first
            while let frame = next {
                let taken: (units: [EncodedAudio], dropped: Int) = sound?.units.take() ?? (units: [], dropped: 0)
                camera.live.skippedSound(taken.dropped, for: client)
                if let bytes = fragments.fragment(frame, sounds: taken.units) {
                    try await writer.write(ByteBuffer(bytes: bytes))
                    camera.live.sent(bytes.count, to: client)
                } else {
                    camera.live.skippedSound(taken.units.count, for: client)
                }
                // A browser plays a muxed stream only where both tracks have data: sound that stops would freeze the
                // picture. The stream ends instead, and the page reconnects to one without sound.
                if let sound, sound.units.silent(for: Self.soundSilence) { break }
                next = await camera.h264Bus.next(for: viewer)
            }
            try await writer.finish(nil)
        })
    }

    /// How long a stream with sound goes on without a sound unit before it ends (units come every 21 ms).
    static let soundSilence: UInt64 = 1_500_000_000

    /// The next keyframe on `bus` (at most a few seconds away: every fragment starts with one).
    private static func keyframe(_ bus: FrameBus) async -> EncodedFrame? {
        await withTaskGroup(of: EncodedFrame?.self) { group in
            group.addTask {
                var after = bus.latest?.sequence
                while let frame = await bus.next(after: after) {
                    if frame.isKeyframe && frame.parameterSets != nil { return frame }
                    after = frame.sequence
                }
                return nil
            }
            group.addTask { try? await Task.sleep(for: .seconds(5)); return nil }
            let found = await group.next() ?? nil
            group.cancelAll()
            return found
        }
    }
}
