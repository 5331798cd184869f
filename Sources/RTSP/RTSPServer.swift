import Cameras
import Dispatch
import Encoding
import Frames
import Access
import Platform
import Logging
import RTSPGlue
import ServiceSettings
import Synchronization

/// The cameras' H.264 over RTSP: GStreamer's RTSP server (RTP over TCP and UDP, SDP with sprop-parameter-sets,
/// RTCP sender reports, Basic and Digest authentication), one shared stream per camera fed with the frames the
/// camera's encoder already made. A camera recording MJPEG runs its H.264 encoder while an RTSP client watches.
public final class RTSPServer: @unchecked Sendable {
    /// One camera's mount.
    private final class Mount: Sendable {
        let camera: Camera
        let path: String
        let feed = Mutex<RTSPFeed?>(nil)
        /// Frames of feeds that ended, so the counts keep growing across clients.
        let pastSent = Atomic<UInt64>(0)
        let pastDropped = Atomic<UInt64>(0)

        init(camera: Camera, path: String) {
            self.camera = camera
            self.path = path
        }
    }

    private let settings: RTSPSettings
    private let access: RTSPAccess
    private let logger: Logger
    private let mounts: [Mount]
    private let publishers: [RTSPPublisher]
    // Set once in `start`, freed in `stop` (both on the daemon's start/stop path; the C server is thread-safe).
    private var server: OpaquePointer?
    private let state = Mutex<(port: Int?, error: String?)>((nil, nil))
    /// Demand changes start and stop encoders and threads: in order, off GStreamer's threads.
    private let demandQueue = DispatchQueue(label: "rtsp-demand")
    /// Failed logins per address: after three, one attempt every 12 s (as for the web UI).
    private let throttle = LoginThrottle()
    /// Whether the C server may be given sound units (false once `stop` frees it; held while one is given).
    private let open = Mutex(false)
    /// Basic credentials already verified (bcrypt is slow, and clients send them with every request).
    private let verified = Mutex<Set<String>>([])

    /// A server for `cameras` (not yet listening).
    public init(settings: RTSPSettings, cameras: [Camera], access: RTSPAccess, logger: Logger) {
        self.settings = settings
        self.access = access
        self.logger = logger
        mounts = cameras.map { Mount(camera: $0, path: "/" + settings.path(for: $0.config.id)) }
        publishers = cameras.compactMap { camera in
            settings.publishURL(for: camera.config.id).map { RTSPPublisher(camera: camera, url: $0, logger: logger) }
        }
    }

    /// Why GStreamer's RTSP server cannot run here (a missing plugin), or nil when it can.
    public static func libraryProblem() -> String? {
        var error = [CChar](repeating: 0, count: 512)
        return bb_rtsp_init(&error, error.count) == 0 ? nil : String(cMessage: error)
    }

    /// Starts listening on `host` (the configured address wins) and starts the pushes. A port in use is no reason
    /// to stop recording: the error is logged and shown in the status, and the daemon goes on without RTSP.
    /// Returns the port listened on.
    @discardableResult
    public func start(host: String) throws(RTSPError) -> Int? {
        if let problem = Self.libraryProblem() { throw RTSPError(problem) }
        var error = [CChar](repeating: 0, count: 512)
        let callbacks = bb_rtsp_callbacks(
            context: Unmanaged.passUnretained(self).toOpaque(),
            demand: { context, mount, active in
                RTSPServer.from(context).demand(mount: Int(mount), active: active != 0)
            },
            client_joined: { context, mount in
                let server = RTSPServer.from(context)
                return Int32(server.mounts[Int(mount)].camera.live.join(.rtsp))
            },
            client_left: { context, mount, id in
                RTSPServer.from(context).mounts[Int(mount)].camera.live.leave(Int(id))
            },
            check_password: { context, user, password in
                guard let user, let password else { return 0 }
                return RTSPServer.from(context).check(user: String(cString: user), password: String(cString: password)) ? 1 : 0
            },
            throttled: { context, address in
                RTSPServer.from(context).throttle.retryAfter(address.map { String(cString: $0) } ?? "") == nil ? 0 : 1
            },
            authenticated: { context, address, ok in
                let server = RTSPServer.from(context), client = address.map { String(cString: $0) } ?? ""
                if ok != 0 { server.throttle.succeed(client) } else { server.throttle.fail(client) }
            })
        let address = settings.host ?? host
        let server = bb_rtsp_server_new(address, Int32(settings.port), callbacks)
        for (index, mount) in mounts.enumerated() {
            // A camera with sound offers its AAC as a second stream.
            let sound = mount.camera.sound == nil ? nil : mount.camera.recorder?.audio
            let config = sound?.decoderConfig ?? []
            bb_rtsp_server_add_mount(server, mount.path, Int32(index), Int32(sound?.sampleRate ?? 0), Int32(sound?.channels ?? 0), config, config.count)
            if sound != nil {
                mount.camera.soundUnits.add { [self] unit in
                    open.withLock { open in
                        guard open, let server = self.server else { return }
                        _ = bb_rtsp_server_push_sound(server, Int32(index), unit.bytes, unit.bytes.count, unit.monotonicNanos)
                    }
                }
            }
        }
        guard bb_rtsp_server_set_auth(server, access.anonymous ? 1 : 0, RTSPAccess.realm, access.user, access.digestHA1, &error, error.count) == 0 else {
            bb_rtsp_server_free(server)
            throw RTSPError(String(cMessage: error))
        }
        // Known before the first client can ask for a stream.
        self.server = server
        let port = bb_rtsp_server_start(server, &error, error.count)
        guard port > 0 else {
            let reason = "cannot listen on \(address):\(settings.port): \(String(cMessage: error))"
            self.server = nil
            bb_rtsp_server_free(server)
            state.withLock { $0.error = reason }
            logger.error("RTSP server not started; recording and the web server go on", metadata: ["problem": "\(reason)"])
            for publisher in publishers { publisher.start() }
            return nil
        }
        state.withLock { $0 = (Int(port), nil) }
        open.withLock { $0 = true }
        for publisher in publishers { publisher.start() }
        return Int(port)
    }

    /// Stops the pushes, closes every client and stops the feeds (and the encoders they started).
    public func stop() {
        for publisher in publishers { publisher.stop() }
        open.withLock { $0 = false }
        if let server {
            bb_rtsp_server_free(server)
            self.server = nil
        }
        demandQueue.sync {}
        for (index, mount) in mounts.enumerated() where mount.feed.withLock({ $0 != nil }) { setActive(index, false) }
    }

    /// The server and every stream now.
    public func status() -> RTSPStatus {
        let (port, error) = state.withLock { $0 }
        let sessions = server.map { Int(bb_rtsp_server_sessions($0)) } ?? 0
        var refused: Int32 = 0
        let connections = server.map { Int(bb_rtsp_server_connections($0, &refused)) } ?? 0
        let streams = mounts.map { m in
            let feed = m.feed.withLock { $0 }
            return RTSPStatus.Stream(camera: m.camera.config.id, path: m.path, clients: m.camera.live.count(.rtsp), active: feed != nil,
                                     framesSent: m.pastSent.load(ordering: .relaxed) + (feed?.sent.load(ordering: .relaxed) ?? 0),
                                     framesDropped: m.pastDropped.load(ordering: .relaxed) + (feed?.dropped ?? 0))
        }
        return RTSPStatus(enabled: true, listening: port != nil, port: port, error: error,
                          auth: access.anonymous ? "none" : access.digestHA1 == nil ? "basic" : "basic+digest", sessions: sessions,
                          connections: connections, refusedConnections: Int(refused), streams: streams, publish: publishers.map { $0.status() })
    }

    private static func from(_ context: UnsafeMutableRawPointer?) -> RTSPServer {
        Unmanaged<RTSPServer>.fromOpaque(context!).takeUnretainedValue()
    }

    private func demand(mount: Int, active: Bool) {
        demandQueue.async { [self] in setActive(mount, active) }
    }

    /// A first client made the mount's media: its feed (and, with MJPEG recording, the H.264 encoder) starts; the
    /// last one left: both stop.
    private func setActive(_ index: Int, _ active: Bool) {
        let mount = mounts[index]
        if active {
            guard mount.feed.withLock({ $0 == nil }) else { return }
            mount.camera.joinH264Live()
            let feed = RTSPFeed(camera: mount.camera, name: "rtsp-\(mount.camera.config.id)") { [self] config, frame, bytes in
                guard let server else { return 0 }
                let result = bb_rtsp_server_push(server, Int32(index), config.baseAddress, config.count, Int32(frame.width), Int32(frame.height),
                                           Int32(mount.camera.config.geometry.fps), bytes.baseAddress?.assumingMemoryBound(to: UInt8.self),
                                                 bytes.count, frame.isKeyframe ? 1 : 0, frame.time.monotonicNanos)
                if result == 1 { mount.camera.live.sentToAll(bytes.count, kind: .rtsp) }
                return result
            }
            mount.feed.withLock { $0 = feed }
            logger.info("RTSP stream started", metadata: ["camera": "\(mount.camera.config.id)", "path": "\(mount.path)"])
        } else {
            guard let feed = mount.feed.withLock({ f -> RTSPFeed? in defer { f = nil }; return f }) else { return }
            feed.stop()
            mount.pastSent.add(feed.sent.load(ordering: .relaxed), ordering: .relaxed)
            mount.pastDropped.add(feed.dropped, ordering: .relaxed)
            mount.camera.leaveH264Live()
            logger.info("RTSP stream stopped (no client)", metadata: ["camera": "\(mount.camera.config.id)", "path": "\(mount.path)"])
        }
    }

    /// Basic authentication: the account's name and password, the bcrypt check cached for a password that passed.
    private func check(user: String, password: String) -> Bool {
        let key = user + ":" + password
        if verified.withLock({ $0.contains(key) }) { return true }
        guard access.verify(user, password) else { return false }
        verified.withLock { set in
            if set.count >= 8 { set.removeAll() }
            set.insert(key)
        }
        return true
    }
}

extension String {
    /// The text of a NUL-terminated message buffer filled by C.
    init(cMessage buffer: [CChar]) {
        self.init(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
