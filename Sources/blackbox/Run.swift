import Analysis
import ArgumentParser
import Cameras
import ConfigFile
import Capture
import Encoding
import Foundation
import Frames
import Hooks
import GPSD
import MQTT
import Logging
import Recording
import RTSP
import NIOCore
import Platform
import Rules
import ServiceSettings
import Telemetry
import Serving
import Supervision
import ServiceLifecycle

/// `blackbox run`: the daemon.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the daemon: capture, encode once, serve live MJPEG and the JSON API (the default).",
        discussion: "Stops cleanly on SIGTERM or SIGINT (Ctrl-C) within 2 seconds, also with live streams open."
    )

    @Option(help: ArgumentHelp("Configuration file (TOML). Default: /etc/blackbox/blackbox.toml when it exists. Flags override it.", valueName: "path"))
    var config: String?

    @Option(help: "Address to listen on (0.0.0.0 = every interface, 127.0.0.1 = this machine only). Default: 0.0.0.0.")
    var host: String?

    @Option(help: "TCP port to listen on, 1-65535 (0 picks a free port and prints it). Default: 8080.")
    var port: Int?

    @Flag(inversion: .prefixedNo, help: "Serve the live stream and snapshots without a login (control and recordings always need one). Default: off.")
    var publicLive: Bool?

    @Option(help: "Open client connections at most, 8-100000 (lowered to fit the open-file limit, keeping 256 descriptors for cameras and recording). Default: 512.")
    var maxConnections: Int?

    @Option(name: .customLong("trusted-proxy"), parsing: .singleValue,
            help: ArgumentHelp("Address of a reverse proxy whose X-Forwarded-For names the real client (repeat for more). Default: none.", valueName: "ip"))
    var trustedProxies: [String] = []

    @Option(help: ArgumentHelp("Auth state file with the user and the password's hash (mode 0600). Default: RECORDINGS/.blackbox/auth.toml.", valueName: "path"))
    var authFile: String?

    @Option(name: .customLong("camera"), parsing: .singleValue,
            help: ArgumentHelp("A camera: ID=testpattern[:WxH][@FPS], ID=v4l2:/dev/videoN[:WxH][@FPS][,FORMAT], ID=libcamera:N|NAME[:WxH][@FPS], ID=rpicam:N[:WxH][@FPS][,yuv420|mjpeg] or ID=file:PATH.y4m; repeat for more cameras. Default: front=testpattern.",
                               valueName: "spec"))
    var cameras: [String] = []

    @Option(name: .customLong("camera-audio"), parsing: .singleValue,
            help: ArgumentHelp("Record sound with a camera: ID=alsa:DEVICE (e.g. front=alsa:default, front=alsa:plughw:CARD=Device,DEV=0) or ID=test:click; repeat for more cameras. Off unless given: recording conversations is not legal everywhere.",
                               valueName: "ID=input"))
    var cameraAudio: [String] = []

    @Option(help: ArgumentHelp("Size and rate for cameras that do not give their own. Default: 1280x720@30.", valueName: "WxH@FPS"))
    var size: String?

    @Option(help: "JPEG quality, 1-100. Default: 80.")
    var quality: Int?

    @Option(help: "Encoder threads per camera, 1-16 (default: the number of cores, at most 4).")
    var workers: Int?

    @Flag(inversion: .prefixedNo, help: "Burn the date, time and camera id into every frame (default: on).")
    var overlay: Bool?

    @Option(help: "How the cameras are mounted: turned 0 or 180 degrees (a camera hung upside down). Default: 0.")
    var rotation: Int?

    @Flag(inversion: .prefixedNo, help: "Mirror the cameras' pictures left to right (default: off).")
    var hflip: Bool?

    @Flag(inversion: .prefixedNo, help: "Mirror the cameras' pictures top to bottom (default: off).")
    var vflip: Bool?

    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical. Default: info.")
    var logLevel: String?

    @Option(help: ArgumentHelp("Capture format for V4L2 cameras that do not give one: auto (camera MJPEG passed through if offered, else YUV 4:2:0, NV12, YUYV), mjpeg, yuv420, nv12, yuyv, grey or h264.", valueName: "format"))
    var format: String?

    @Option(help: "mmap buffers per V4L2 camera (2-32). Default: 4.")
    var buffers: Int?

    @Flag(inversion: .prefixedNo, help: "When h264 is asked for and there is no hardware encoder, use MJPEG instead of failing (default: off).")
    var h264Fallback: Bool?

    @OptionGroup(title: "Recording")
    var recording: RecordingOptions

    @Flag(inversion: .prefixedNo, help: "Serve the cameras' H.264 over RTSP (rtsp://HOST:PORT/CAMERA) for NVRs and players. Default: on.")
    var rtsp: Bool?

    @Option(help: "RTSP port, 1-65535 (0 picks a free port and prints it). Default: 8554.")
    var rtspPort: Int?

    @Option(help: ArgumentHelp("Push the H.264 stream to a central RTSP server (ANNOUNCE/RECORD), e.g. rtsp://central:8554/{path}. Default: none.",
                               valueName: "url"))
    var rtspPublish: String?

    @Option(help: ArgumentHelp("Read the GPS through gpsd at HOST:PORT (its speed and heading on the picture, its fixes in every file). Default: none.",
                               valueName: "host:port"))
    var gpsd: String?

    @Option(help: ArgumentHelp("Read an accelerometer (an IIO device's name or iio:deviceN): impacts save protected event clips, readings go in every file. Default: none.",
                               valueName: "device"))
    var gsensor: String?

    /// Every setting after merging flags (first), the configuration file, and the defaults.
    struct Settings {
        var host: String
        var port: Int
        var logLevel: Logger.Level
        var cameras: [CameraConfig]
        var buffers: Int
        var h264Fallback: Bool
        var recording: RecordingConfig
        var publicLive: Bool
        var auth: AuthSource
        var limits: ConnectionLimits
        var trustedProxies: [String]
        /// `[motion]`, for every camera.
        var motion: MotionSettings
        /// `[hooks]`.
        var hooks: HookSettings
        /// `[mqtt]` (nil: no broker).
        var mqtt: MQTTSettings?
        /// `[rtsp]` with the flags over it.
        var rtsp: RTSPSettings
        /// `[gps]` with `--gpsd` over it (nil: no GPS).
        var gps: GPSSettings?
        /// `[gsensor]` with `--gsensor` over it (nil: no accelerometer).
        var gsensor: GSensorSettings?
        /// `[gpio]`: the ignition and button lines (nil: none).
        var gpio: GPIOSettings?
    }

    /// Where the account comes from: the configuration file's `[auth]`, or the auth state file.
    enum AuthSource {
        case configured(StoredCredentials)
        case stateFile(String)
    }

    /// The configuration file, if any (an explicit --config must exist).
    func configFile() throws -> ConfigFile {
        do {
            return try ConfigLoader.load(path: config ?? ConfigLoader.defaultPath, required: config != nil && config != ConfigLoader.defaultPath) ?? ConfigFile()
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// Merges and validates everything; nothing starts half-configured.
    func settings() throws -> Settings {
        let file = try configFile()
        let port = self.port ?? file.port ?? ServerSettings.defaultPort
        let buffers = self.buffers ?? file.buffers ?? 4
        let levelName = logLevel ?? file.logLevel ?? "info"
        var limits = ConnectionLimits()
        do throws(RuleError) {
            try ServerSettings.portRule.check(port, name: "port")
            try CaptureOptions.buffersRule.check(buffers, name: "--buffers")
            try ServerSettings.logLevelRule.check(levelName, name: "log level")
            if let n = maxConnections ?? file.maxConnections {
                try ServerSettings.maxConnectionsRule.check(n, name: "--max-connections")
                limits.maxConnections = n
            }
        } catch {
            throw ValidationError(error.description)
        }
        let level = Logger.Level(rawValue: levelName) ?? .info
        let proxies = trustedProxies.isEmpty ? (file.trustedProxies ?? []) : trustedProxies
        if let bad = proxies.first(where: { !isIPAddress($0) }) {
            throw ValidationError("--trusted-proxy '\(bad)' is not an IP address; allowed: \(ServerSettings.proxyAllowed)")
        }
        let recordingConfig = try recording.config(file: file)
        let auth: AuthSource = file.passwordHash.map {
            .configured(StoredCredentials(user: file.authUser ?? "admin", passwordHash: $0, digestHA1: file.digestHA1))
        }
            ?? .stateFile(authFile ?? file.authFile ?? Passwd.defaultPath(recordings: recordingConfig.root))
        let cameraConfigs = try self.cameraConfigs(file)
        var rtspSettings = file.rtsp ?? RTSPSettings()
        if let on = rtsp { rtspSettings.enabled = on }
        if let p = rtspPort { rtspSettings.port = p }
        if let url = rtspPublish { rtspSettings.publish = url }
        do {
            try rtspSettings.validate(cameras: cameraConfigs.map(\.id))
        } catch {
            throw ValidationError(error.description)
        }
        var gps = file.gps
        if let gpsd {
            do throws(RuleError) {
                let given = try GPSSettings(address: gpsd, name: "--gpsd")
                if gps == nil { gps = given } else { (gps!.host, gps!.port) = (given.host, given.port) }
            } catch {
                throw ValidationError(error.description)
            }
        }
        var gsensorSettings = file.gsensor
        if let gsensor {
            do throws(RuleError) {
                let given = try GSensorSettings(device: gsensor, name: "--gsensor")
                if gsensorSettings == nil { gsensorSettings = given } else { gsensorSettings!.device = given.device }
            } catch {
                throw ValidationError(error.description)
            }
        }
        return Settings(host: host ?? file.host ?? "0.0.0.0", port: port, logLevel: level, cameras: cameraConfigs,
                        buffers: buffers, h264Fallback: h264Fallback ?? file.h264Fallback ?? false,
                        recording: recordingConfig, publicLive: publicLive ?? file.publicLive ?? false, auth: auth,
                        limits: limits, trustedProxies: proxies, motion: file.motion ?? MotionSettings(),
                        hooks: file.hooks ?? HookSettings(), mqtt: file.mqtt, rtsp: rtspSettings, gps: gps, gsensor: gsensorSettings,
                        gpio: file.gpio)
    }

    /// The camera configurations: --camera flags, else the file's [[camera]] tables, else one test pattern.
    func cameraConfigs(_ file: ConfigFile) throws -> [CameraConfig] {
        do {
            var defaults = CameraConfig(id: "front", quality: quality ?? file.quality ?? CameraConfig.defaultQuality, overlay: overlay ?? file.overlay ?? true,
                                        workers: workers ?? file.workers ?? EncoderPool.defaultWorkers)
            defaults.geometry = try CameraConfig.parseGeometry((size ?? file.size ?? "\(CameraConfig.defaultGeometry)")[...],
                                                               base: CameraConfig.defaultGeometry, context: "--size")
            defaults.geometryExplicit = (size ?? file.size) != nil
            let turned: Int = rotation ?? file.rotation ?? 0
            let mirrored: (Bool, Bool) = (hflip ?? file.hflip ?? false, vflip ?? file.vflip ?? false)
            defaults.orientation = Orientation(rotation: turned, hflip: mirrored.0, vflip: mirrored.1)
            if let rotation {
                do throws(RuleError) { try Orientation.checkRotation(rotation, name: "--rotation") } catch { throw ConfigError(error.description) }
            }
            try defaults.validate()
            let defaultFormat: CaptureFormat
            do throws(RuleError) {
                defaultFormat = try format.map { name throws(RuleError) in try CaptureFormat.parse(name, name: "--format") } ?? file.format ?? .auto
            } catch {
                throw ConfigError(error.description)
            }
            // --camera flags replace the file's cameras; either is merged over the defaults once, here.
            let configs: [CameraConfig]
            if !cameras.isEmpty {
                configs = try cameras.map { spec throws(ConfigError) in try CameraConfig.parse(spec, defaults: defaults, defaultFormat: defaultFormat) }
            } else if !file.cameras.isEmpty {
                configs = try file.cameras.map { table throws(ConfigError) in try table.config(over: defaults, defaultFormat: defaultFormat) }
            } else {
                configs = [defaults]
            }
            var seen = Set<String>()
            for c in configs where !seen.insert(c.id).inserted {
                throw ConfigError("camera id '\(c.id)' is given twice; every camera needs its own id")
            }
            return try withAudioFlags(configs)
        } catch let error as ConfigError {
            throw ValidationError(error.description)
        }
    }

    /// `configs` with each `--camera-audio ID=INPUT` applied to its camera.
    func withAudioFlags(_ configs: [CameraConfig]) throws(ConfigError) -> [CameraConfig] {
        var out = configs
        for flag in cameraAudio {
            guard let eq = flag.firstIndex(of: "="), let i = out.firstIndex(where: { $0.id == flag[..<eq] }) else {
                throw ConfigError("--camera-audio '\(flag)': expected ID=INPUT for one of the cameras (\(out.map(\.id).joined(separator: ", "))), "
                                  + "INPUT being \(AudioInput.allowed)")
            }
            do throws(RuleError) { out[i].audio = try AudioInput.parse(String(flag[flag.index(after: eq)...]), name: "--camera-audio") } catch {
                throw ConfigError(error.description)
            }
        }
        return out
    }

    func validate() throws {
        _ = try settings()
    }

    func run() async throws {
        let settings = try self.settings()
        disableTransparentHugePages()  // before any encoder allocates
        let (host, port, level) = (settings.host, settings.port, settings.logLevel)
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "blackbox")
        // Clients must never starve the cameras and the recorder of descriptors: raise the limit,
        // then cap connections below it with a reserve.
        let descriptors = DescriptorLimit.raise()
        let connections = ConnectionRegistry(limits: settings.limits.fitting(descriptorLimit: descriptors.after))
        logger.info("connections capped", metadata: [
            "max": "\(connections.limits.maxConnections)", "openFileLimit": "\(descriptors.after)", "raisedFrom": "\(descriptors.before)",
            "reserved": "\(ConnectionLimits.descriptorReserve)"])
        var setup = try RecordingOptions.prepare(settings.recording, cameras: settings.cameras, logger: logger)
        setup?.motion = settings.motion
        setup?.metadata = settings.gps != nil || settings.gsensor != nil
        // Hooks stop last (after the cameras: defers run in reverse), so that no recorder offers to a stopped runner.
        let hooks = settings.hooks.isEmpty || setup == nil ? nil
            : HookRunner(settings: settings.hooks, root: settings.recording.root, logger: logger)
        defer { hooks?.stop() }
        let account = try Passwd.credentials(settings.auth, logger: logger)
        let credentials = Credentials(user: account.user, passwordHash: account.passwordHash)
        let capture = CaptureOptions(buffers: settings.buffers, h264Fallback: settings.h264Fallback, logger: logger,
                                     libcamera: LibcameraWiring.factory, audio: AudioWiring.factory)
        let savedPath = Self.savedSettingsPath(recordings: settings.recording.root)
        let saved: [String: SavedSettings]
        do {
            saved = try SettingsFile.load(path: savedPath)
        } catch {
            logger.warning("ignoring the saved camera settings", metadata: ["problem": "\(error)"])
            saved = [:]
        }
        // Cameras start before the server: a wrong size or format, or a busy device, ends the start
        // here with the camera's own message (exit code 2) instead of serving a camera that cannot work.
        var cameras: [Camera] = []
        defer { for camera in cameras { camera.stop() } }
        for config in settings.cameras {
            let camera = try Self.startCamera(config, saved: saved[config.id], recording: setup, capture: capture, logger: logger)
            if let hooks { camera.recorder?.finished.add { hooks.finished($0) } }
            cameras.append(camera)
        }
        let running = cameras
        let shownHost = host == "0.0.0.0" || host == "::" ? "localhost" : host
        let ids = running.map(\.config.id).joined(separator: ", ")
        let notifier = SystemdNotifier()
        let access = setup.map { RecordingsAccess(root: $0.config.root, retention: $0.retention, recovered: $0.recovered, publicKey: $0.key?.publicKey,
                                                hooks: hooks.map { runner in { @Sendable in runner.status() } }) }
        // The recordings index is kept for the next start (it rebuilds itself from the files anyway).
        defer { access?.index.save() }
        let gps = settings.gps.map { GPSWiring.start($0, cameras: running, logger: logger) }
        // Stops before the cameras (defers run in reverse): no report is handed to a stopped recorder.
        defer { gps?.stop() }
        let gpsStatus: (@Sendable () -> GPSStatus)? = gps.map { g in { @Sendable in g.status() } }
        let gsensor = settings.gsensor.map { GSensorWiring.start($0, cameras: running, logger: logger) }
        // Stops before the cameras, as the GPS does.
        defer { gsensor?.stop() }
        let gsensorStatus: (@Sendable () -> GSensorStatus)? = gsensor.map { g in { @Sendable in g.status() } }
        let gpio = settings.gpio.map { GPIOWiring($0, cameras: running, gsensor: gsensor, recordings: setup?.config.root, logger: logger) }
        // Released before the cameras stop, as the GPS and the accelerometer are.
        defer { gpio?.stop() }
        let gpioStatus: (@Sendable () -> GPIOStatus)? = gpio.map { g in { @Sendable in g.status() } }
        var mqtt: MQTTBridge?
        if let mqttSettings = settings.mqtt {
            do {
                mqtt = try MQTTBridge(settings: mqttSettings, cameras: running, version: BlackboxVersion.string,
                                      disk: { access?.retention.usage }, gps: gpsStatus, gsensor: gsensorStatus, gpio: gpioStatus, onModeChange: { Self.saveSettings(running, path: savedPath, logger: logger) },
                                      logger: logger)
                try mqtt?.start()
            } catch {
                throw StartupError("MQTT: \(error)")
            }
        }
        defer { mqtt?.stop() }
        let bridge = mqtt
        let mqttStatus: (@Sendable () -> MQTTStatus)? = bridge.map { b in { @Sendable in b.status() } }
        var rtspServer: RTSPServer?
        if settings.rtsp.enabled {
            Self.placeGStreamerRegistry()
            let server = RTSPServer(settings: settings.rtsp, cameras: running,
                                    access: RTSPAccess(anonymous: settings.publicLive, user: account.user, digestHA1: account.digestHA1,
                                                       verify: { credentials.verify(user: $0, password: $1) }),
                                    logger: logger)
            do {
                if let bound = try server.start(host: host) {
                    let paths = running.map { settings.rtsp.path(for: $0.config.id) }
                    FileHandle.standardOutput.write(Data("blackbox: serving rtsp://\(shownHost):\(bound)/ (paths: \(paths.joined(separator: ", ")))\n".utf8))
                }
            } catch {
                throw StartupError("RTSP: \(error)")
            }
            rtspServer = server
        }
        // Before the cameras stop (defers run in reverse): clients closed, feeds and the encoders they started stopped.
        defer { rtspServer?.stop() }
        let rtspStatus: (@Sendable () -> RTSPStatus)? = rtspServer.map { r in { @Sendable in r.status() } }
        let codeTrim = Worker()
        defer { codeTrim.stop() }
        let app = HTTPServer.application(cameras: running, recordings: access,
                                         auth: AuthSettings(credentials: credentials, publicLive: settings.publicLive, trustedProxies: settings.trustedProxies),
                                         host: host, port: port, connections: connections, logger: logger,
                                         services: ServiceReports(mqtt: mqttStatus, rtsp: rtspStatus, gps: gpsStatus, gsensor: gsensorStatus, gpio: gpioStatus),
                                         onSettingsChanged: {
                                             Self.saveSettings(running, path: savedPath, logger: logger)
                                         }) { bound in
            // Printed on stdout so that scripts (and the tests) can find the port when --port 0.
            FileHandle.standardOutput.write(Data("blackbox: serving http://\(shownHost):\(bound)/ (cameras: \(ids))\n".utf8))
            notifier.send("READY=1\nSTATUS=serving on port \(bound), cameras: \(ids)")
            // Started: the code start-up ran leaves memory, and the program file leaves the page cache but for what is
            // mapped (a fault maps the cached neighbours of its page too). From now on only the code that runs is read
            // back and mapped, a page at a time. It waits for every camera's first second of frames (15 s at most), so
            // that the page faults after it, which slow every thread, do not fall on a camera's start.
            codeTrim.start(name: "code-trim") {
                let deadline = MonotonicClock.nanos() + 15_000_000_000
                while codeTrim.isRunning, MonotonicClock.nanos() < deadline,
                      running.contains(where: { $0.framesCaptured < UInt64(max(1, $0.config.geometry.fps)) }) {
                    usleep(100_000)
                }
                guard codeTrim.isRunning else { return }
                let unmapped = MappedCode.trim()
                let dropped = MappedCode.dropUnmappedCache()
                logger.debug("start-up code unmapped", metadata: ["bytes": "\(unmapped)", "cacheDropped": "\(dropped)"])
            }
        }
        // The cameras come after the server in this group: services stop in reverse order, so the
        // cameras stop first, which ends every live stream, and the server then closes at once.
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: app), .init(service: CameraService(cameras: running, logger: logger)),
                       .init(service: WatchdogService(cameras: running, notifier: notifier, logger: logger))],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        do {
            try await group.run()
        } catch {
            if let io = error as? IOError, io.errnoCode == EADDRINUSE {
                throw StartupError("port \(port) on \(host) is already in use; stop the other program or choose another --port")
            }
            throw StartupError("cannot serve on \(host):\(port): \(error)")
        }
        logger.info("stopped")
    }
}

extension Run {
    /// Where settings changed in the web UI are kept: beside the auth file, in the recordings folder.
    static func savedSettingsPath(recordings: String) -> String {
        "\(recordings)/.blackbox/cameras.toml"
    }

    /// Builds and starts one camera: with the settings saved from the web UI when there are some for
    /// this source, falling back to the configuration's if the camera cannot run with them.
    static func startCamera(_ configured: CameraConfig, saved: SavedSettings?, recording: RecordingSetup?, capture: CaptureOptions,
                            logger: Logger) throws -> Camera {
        let (config, note) = configured.withDeviceMode()
        if let note { logger.notice("camera mode chosen", metadata: ["camera": "\(config.id)", "mode": "\(note)"]) }
        if let saved, let changed = config.applying(saved), changed != config {
            let camera = try Camera(config: changed, recording: recording, capture: capture)
            do {
                try camera.start()
                logger.info("camera started with the settings saved from the web UI",
                            metadata: ["camera": "\(config.id)", "source": "\(camera.source.description)",
                                       "settings": "\(changed.geometry) quality \(changed.quality) overlay \(changed.overlay)"])
                return camera
            } catch {
                camera.stop()
                logger.warning("the saved settings do not work; using the configuration's",
                               metadata: ["camera": "\(config.id)", "problem": "\(error)"])
            }
        }
        let camera = try Camera(config: config, recording: recording, capture: capture)
        do {
            try camera.start()
        } catch {
            camera.stop()
            throw StartupError("camera '\(config.id)': \(error)")
        }
        logger.info("camera started", metadata: ["camera": "\(config.id)", "source": "\(camera.source.description)"])
        return camera
    }

    /// GStreamer keeps its plugin registry in ~/.cache, which the systemd unit hides (ProtectHome): there it goes to
    /// the service's private /tmp instead (scanned once per start), never beside the recordings (quota, SD wear).
    static func placeGStreamerRegistry() {
        let environment = ProcessInfo.processInfo.environment
        guard environment["GST_REGISTRY"] == nil else { return }
        let home = environment["HOME"] ?? "/nonexistent"
        let cache = environment["XDG_CACHE_HOME"] ?? home + "/.cache"
        let files = FileManager.default
        if files.isWritableFile(atPath: cache) || (!files.fileExists(atPath: cache) && files.isWritableFile(atPath: home)) { return }
        setenv("GST_REGISTRY", NSTemporaryDirectory() + "blackbox-gstreamer-registry-\(getuid()).bin", 0)
    }

    /// Writes every camera's current settings to the saved-settings file.
    static func saveSettings(_ cameras: [Camera], path: String, logger: Logger) {
        let all = Dictionary(uniqueKeysWithValues: cameras.map { ($0.config.id, SavedSettings($0.config)) })
        do {
            try SettingsFile.save(all, path: path)
        } catch {
            logger.error("cannot keep the camera settings for the next start", metadata: ["problem": "\(error)"])
        }
    }
}

/// A reason the daemon could not start (bad port, unusable device); printed as one line, exit code 2.
struct StartupError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
