import Cameras
import Encoding
import Foundation
import Frames
import Platform
import Logging
import ServiceSettings
import Synchronization

/// Pushes one camera's H.264, and its sound (AAC, RFC 3640) when it is running, to a central RTSP server (ANNOUNCE +
/// RECORD, RTP over the TCP connection), for a camera behind NAT. Written here rather than with GStreamer's
/// `rtspclientsink`, whose SETUP says `mode="RECORD"` (quoted), which ffmpeg's RTSP listener refuses. A refused or lost
/// connection is tried again after 1 s, doubling to 30 s; the camera's H.264 encoder runs (with MJPEG recording) only
/// while a connection is up or being made.
final class RTSPPublisher: Sendable {
    private let camera: Camera
    private let url: String
    private let logger: Logger
    private let running = Atomic<Bool>(false)
    /// Closed to wake the thread from a backoff wait when the daemon stops.
    private let wake = BoundedQueue<Bool>(capacity: 1)
    private let thread = Worker()
    private let current: Mutex<RTSPPublisherStatus>
    private let sent = Atomic<UInt64>(0)
    private let soundSent = Atomic<UInt64>(0)
    private let soundDropped = Atomic<UInt64>(0)

    init(camera: Camera, url: String, logger: Logger) {
        self.camera = camera
        self.url = url
        self.logger = logger
        current = Mutex(RTSPPublisherStatus(camera: camera.config.id, url: Self.hidingPassword(url), state: .connecting, failures: 0,
                                            framesSent: 0, lastError: nil))
    }

    /// Starts the publishing thread.
    func start() {
        running.store(true, ordering: .relaxed)
        thread.start(name: "rtsp-push-\(camera.config.id)") { [self] in run() }
    }

    /// Stops publishing (closing the connection) and waits for the thread.
    func stop() {
        running.store(false, ordering: .relaxed)
        wake.close()
        thread.stop()
    }

    /// Now.
    func status() -> RTSPPublisherStatus {
        var s = current.withLock { $0 }
        s.framesSent = sent.load(ordering: .relaxed)
        s.soundUnitsSent = soundSent.load(ordering: .relaxed)
        s.soundUnitsDropped = soundDropped.load(ordering: .relaxed)
        return s
    }

    /// `url` with any password replaced by `***`.
    static func hidingPassword(_ url: String) -> String {
        guard let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@") else { return url }
        let userInfo = url[scheme.upperBound..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }

    private func run() {
        var backoff = Backoff()
        while running.load(ordering: .relaxed) {
            current.withLock { $0.state = .connecting }
            let failure = publishOnce(onPlaying: { backoff.reset() })
            guard running.load(ordering: .relaxed) else { break }
            // A stream that changed is announced again at once.
            if failure.hasSuffix("announcing it again") { continue }
            let wait = backoff.next()
            current.withLock {
                $0.state = .retrying
                $0.failures += 1
                $0.lastError = failure
            }
            logger.warning("RTSP push failed; trying again", metadata: [
                "camera": "\(camera.config.id)", "url": "\(Self.hidingPassword(url))", "problem": "\(failure)", "retryIn": "\(wait / 1_000_000_000) s"])
            _ = wake.take(timeoutNanos: wait)
        }
    }

    /// One connection: until it fails or the daemon stops; returns why it ended.
    private func publishOnce(onPlaying: () -> Void) -> String {
        let address: RTSPPushConnection.Address
        do {
            address = try RTSPPushConnection.Address(url)
        } catch {
            return error.description
        }
        camera.joinH264Live()
        let subscription = camera.h264Bus.subscribe(capacity: 30)
        defer {
            subscription.cancel()
            camera.leaveH264Live()
        }
        // The SDP needs the stream's parameter sets: wait for a keyframe (one a second).
        var first: EncodedFrame?
        let deadline = MonotonicClock.nanos() + 5_000_000_000
        while first == nil, running.load(ordering: .relaxed), MonotonicClock.nanos() < deadline {
            if let frame = subscription.next(timeoutNanos: 250_000_000), frame.isKeyframe, frame.parameterSets != nil { first = frame }
        }
        guard let first, let sets = first.parameterSets else { return running.load(ordering: .relaxed) ? "no H.264 keyframe from the camera within 5 s" : "stopped" }
        // Sound goes along when it is running (a receiver waiting for sound that never comes may hold the picture); a
        // camera with sound gives it 2 s to start, as at the daemon's start, so that the stream is announced with it.
        let soundDeadline = MonotonicClock.nanos() + 2_000_000_000
        while let pending = camera.sound, pending.status().state != .running, running.load(ordering: .relaxed), MonotonicClock.nanos() < soundDeadline {
            _ = wake.take(timeoutNanos: 100_000_000)
        }
        let sound = camera.subscribeSound()
        defer { sound?.units.cancel() }
        let connection: RTSPPushConnection
        do {
            connection = try RTSPPushConnection(address: address)
            try connection.start(sdp: Self.sdp(sets: sets, fps: camera.config.geometry.fps, host: address.host, audio: sound?.format),
                                 streams: sound == nil ? 1 : 2)
        } catch {
            return error.description
        }
        defer { connection.close() }
        current.withLock { $0.state = .publishing; $0.lastError = nil }
        onPlaying()
        logger.notice("RTSP push connected", metadata: ["camera": "\(camera.config.id)", "url": "\(Self.hidingPassword(url))"])
        var sender = AccessUnitSender()
        var rtp = RTPPacketizer()
        var soundRTP = RTPPacketizer(type: RTPPacketizer.aacPayloadType)
        let startMono = first.time.monotonicNanos
        let startTimestamp = UInt32.random(in: 0...UInt32.max)
        let soundStart = UInt32.random(in: 0...UInt32.max)
        let rate = UInt64(sound?.format.sampleRate ?? 1)
        // The sound's RTP time of capture time `nanos` (on the picture's clock: both start at the first frame).
        func soundTimestamp(_ nanos: UInt64) -> UInt32 { soundStart &+ UInt32(truncatingIfNeeded: (nanos &- startMono) * rate / 1_000_000_000) }
        var lastReport: UInt64 = 0
        var failure: String?
        var next: EncodedFrame? = first
        while running.load(ordering: .relaxed) {
            if let frame = next {
                guard frame.parameterSets == sets else { return "the camera's H.264 stream changed (size or settings): announcing it again" }
                let timestamp = startTimestamp &+ UInt32(truncatingIfNeeded: (frame.time.monotonicNanos &- startMono) * 90_000 / 1_000_000_000)
                let outcome = sender.send(frame) { _, _, bytes in
                    do {
                        for packet in rtp.packets(accessUnit: bytes, timestamp: timestamp) { try connection.send(channel: 0, packet) }
                        return 1
                    } catch {
                        failure = "\(error)"
                        return -1
                    }
                }
                if let failure { return failure }
                // Frames held back (after a gap, until the next keyframe) are not counted as sent.
                if case .sent = outcome { sent.add(1, ordering: .relaxed) }
                // A sender report every 5 s ties the RTP clock to the wall clock (capture time), for receivers that align cameras.
                if frame.time.monotonicNanos &- lastReport >= 5_000_000_000 {
                    lastReport = frame.time.monotonicNanos
                    let wall = UInt64(frame.time.wallSeconds) * 1_000_000_000 + UInt64(frame.time.wallNanos)
                    do {
                        try connection.send(channel: 1, rtp.senderReport(unixNanos: wall, timestamp: timestamp))
                        if sound != nil {
                            try connection.send(channel: 3, soundRTP.senderReport(unixNanos: wall, timestamp: soundTimestamp(frame.time.monotonicNanos)))
                        }
                    } catch {
                        return error.description
                    }
                }
            }
            if let sound {
                // Units captured before the first frame belong to nothing sent; each goes as one packet at its capture time.
                let (units, dropped) = sound.units.take()
                soundDropped.add(UInt64(dropped), ordering: .relaxed)
                for unit in units where unit.monotonicNanos >= startMono {
                    do { try connection.send(channel: 2, soundRTP.packet(aacUnit: unit.bytes, timestamp: soundTimestamp(unit.monotonicNanos))) } catch {
                        return error.description
                    }
                    soundSent.add(1, ordering: .relaxed)
                }
                if sound.units.silent(for: 1_500_000_000) { return "the camera's sound stopped: announcing it again" }
            } else if next?.isKeyframe == true, camera.sound?.status().state == .running {
                return "the camera's sound started: announcing it again"
            }
            do { try connection.drain() } catch { return error.description }
            next = subscription.next(timeoutNanos: 250_000_000)
        }
        return "stopped"
    }

    /// The session description of the H.264 track (RFC 6184), its control `streamid=0`, and with `audio` an AAC-LC track
    /// (RFC 3640 AAC-hbr), `streamid=1`.
    static func sdp(sets: H264ParameterSets, fps: Int, host: String, audio: AudioFormat? = nil) -> String {
        let profile = sets.sps.count >= 4 ? sets.sps[1...3].map { String(format: "%02X", $0) }.joined() : "42E01F"
        let sprop = Data(sets.sps).base64EncodedString() + "," + Data(sets.pps).base64EncodedString()
        let video = [
            "v=0", "o=- 0 0 IN IP4 127.0.0.1", "s=blackbox", "c=IN IP4 \(host.contains(":") ? "::" : "0.0.0.0")", "t=0 0",
            "m=video 0 RTP/AVP \(RTPPacketizer.payloadType)", "a=rtpmap:\(RTPPacketizer.payloadType) H264/90000",
            "a=fmtp:\(RTPPacketizer.payloadType) packetization-mode=1;profile-level-id=\(profile);sprop-parameter-sets=\(sprop)",
            "a=framerate:\(fps)", "a=control:streamid=0",
        ]
        guard let audio else { return video.joined(separator: "\r\n") + "\r\n" }
        let type = RTPPacketizer.aacPayloadType
        let config = audio.decoderConfig.map { String(format: "%02x", $0) }.joined()
        return (video + [
            "m=audio 0 RTP/AVP \(type)", "a=rtpmap:\(type) MPEG4-GENERIC/\(audio.sampleRate)/\(audio.channels)",
            "a=fmtp:\(type) streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=\(config)",
            "a=control:streamid=1",
        ]).joined(separator: "\r\n") + "\r\n"
    }
}
