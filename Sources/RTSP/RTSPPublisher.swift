import Cameras
import Frames
import Logging
import RTSPGlue
import Synchronization

/// Pushes one camera's H.264 to a central RTSP server (ANNOUNCE + RECORD over TCP, GStreamer's `rtspclientsink`),
/// for a camera behind NAT. A refused or lost connection is tried again after 1 s, doubling to 30 s; the camera's
/// H.264 encoder runs (with MJPEG recording) only while a connection is up or being made.
final class RTSPPublisher: Sendable {
    private let camera: Camera
    private let url: String
    private let logger: Logger
    private let running = Atomic<Bool>(false)
    /// Closed to wake the thread from a backoff wait when the daemon stops.
    private let wake = BoundedQueue<Bool>(capacity: 1)
    private let thread = Mutex<DedicatedThread?>(nil)
    private let current: Mutex<RTSPPublisherStatus>
    private let sent = Atomic<UInt64>(0)

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
        thread.withLock { $0 = DedicatedThread(name: "rtsp-push-\(camera.config.id)") { [self] in run() } }
    }

    /// Stops publishing (closing the connection) and waits for the thread.
    func stop() {
        running.store(false, ordering: .relaxed)
        wake.close()
        thread.takeAndJoin()
    }

    /// Now.
    func status() -> RTSPPublisherStatus {
        var s = current.withLock { $0 }
        s.framesSent = sent.load(ordering: .relaxed)
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
        var error = [CChar](repeating: 0, count: 512)
        guard bb_rtsp_init(&error, error.count) == 0, let publisher = bb_rtsp_publisher_new(url, &error, error.count) else {
            return String(cMessage: error)
        }
        camera.joinH264Live()
        let subscription = camera.h264Bus.subscribe(capacity: 30)
        defer {
            subscription.cancel()
            bb_rtsp_publisher_free(publisher)
            camera.leaveH264Live()
        }
        var sender = AccessUnitSender()
        var playing = false
        let fps = Int32(camera.config.geometry.fps)
        while running.load(ordering: .relaxed) {
            if let frame = subscription.next(timeoutNanos: 250_000_000) {
                let outcome = sender.send(frame) { config, frame, bytes, age in
                    bb_rtsp_publisher_push(publisher, config.baseAddress, config.count, Int32(frame.width), Int32(frame.height), fps,
                                           bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count, frame.isKeyframe ? 1 : 0, age)
                }
                if case .sent = outcome { sent.add(1, ordering: .relaxed) }
            }
            if bb_rtsp_publisher_failed(publisher, &error, error.count) != 0 { return String(cMessage: error) }
            if !playing, bb_rtsp_publisher_playing(publisher) != 0 {
                playing = true
                onPlaying()
                current.withLock { $0.state = .publishing; $0.lastError = nil }
                logger.notice("RTSP push connected", metadata: ["camera": "\(camera.config.id)", "url": "\(Self.hidingPassword(url))"])
            }
        }
        return "stopped"
    }
}
