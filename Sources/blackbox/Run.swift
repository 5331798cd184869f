import ArgumentParser
import Cameras
import Capture
import Encoding
import Foundation
import Logging
import Recording
import NIOCore
import Serving
import ServiceLifecycle

/// `blackbox run`: the daemon.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the daemon: capture, encode once, serve live MJPEG and the JSON API (the default).",
        discussion: "Stops cleanly on SIGTERM or SIGINT (Ctrl-C) within 2 seconds, also with live streams open."
    )

    @Option(help: "Address to listen on (0.0.0.0 = every interface, 127.0.0.1 = this machine only).")
    var host = "0.0.0.0"

    @Option(help: "TCP port to listen on, 1-65535 (0 picks a free port and prints it).")
    var port = 8080

    @Option(name: .customLong("camera"), parsing: .singleValue,
            help: ArgumentHelp("A camera: ID=testpattern[:WxH][@FPS], ID=v4l2:/dev/videoN[:WxH][@FPS][,FORMAT] or ID=rpicam:N[:WxH][@FPS][,yuv420|mjpeg]; repeat for more cameras. Default: front=testpattern.",
                               valueName: "spec"))
    var cameras: [String] = []

    @Option(help: ArgumentHelp("Size and rate for cameras that do not give their own.", valueName: "WxH@FPS"))
    var size = "\(CameraConfig.defaultGeometry)"

    @Option(help: "JPEG quality, 1-100.")
    var quality = 80

    @Option(help: "Encoder threads per camera, 1-16 (default: the number of cores, at most 4).")
    var workers: Int?

    @Flag(inversion: .prefixedNo, help: "Burn the date, time and camera id into every frame.")
    var overlay = true

    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    @Option(help: ArgumentHelp("Capture format for V4L2 cameras that do not give one: auto (camera MJPEG passed through if offered, else YUV 4:2:0, NV12, YUYV), mjpeg, yuv420, nv12, yuyv, grey or h264.", valueName: "format"))
    var format = "auto"

    @Option(help: "mmap buffers per V4L2 camera (2-32).")
    var buffers = 4

    @Flag(help: "When h264 is asked for and there is no hardware encoder, use MJPEG instead of failing.")
    var h264Fallback = false

    @OptionGroup(title: "Recording")
    var recording: RecordingOptions

    /// The camera configurations the flags describe (validated).
    func cameraConfigs() throws -> [CameraConfig] {
        do {
            var defaults = CameraConfig(id: "front", quality: quality, overlay: overlay,
                                        workers: workers ?? EncoderPool.defaultWorkers)
            defaults.geometry = try CameraConfig.parseGeometry(size[...], base: CameraConfig.defaultGeometry, context: "--size")
            try defaults.validate()
            guard let defaultFormat = CaptureFormat(rawValue: format) else {
                throw ConfigError("--format '\(format)' is not known; allowed: \(CaptureFormat.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let configs = try cameras.isEmpty ? [defaults] : cameras.map { spec throws(ConfigError) in
                try CameraConfig.parse(spec, defaults: defaults, defaultFormat: defaultFormat)
            }
            var seen = Set<String>()
            for c in configs where !seen.insert(c.id).inserted {
                throw ConfigError("camera id '\(c.id)' is given twice; every camera needs its own id")
            }
            return configs
        } catch let error as ConfigError {
            throw ValidationError(error.description)
        }
    }

    func validate() throws {
        guard (0...65535).contains(port) else {
            throw ValidationError("port \(port) is out of range; allowed: 1 to 65535, or 0 for any free port")
        }
        guard (2...32).contains(buffers) else {
            throw ValidationError("--buffers \(buffers) is out of range; allowed: 2 to 32")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("log level '\(logLevel)' is not known; allowed: trace, debug, info, notice, warning, error, critical")
        }
        _ = try cameraConfigs()
        _ = try recording.config()
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "blackbox")
        let recordingConfig = try recording.config()
        let setup = try recording.prepare(recordingConfig, logger: logger)
        let capture = CaptureOptions(buffers: buffers, h264Fallback: h264Fallback, logger: logger)
        let cameras = try cameraConfigs().map { try Camera(config: $0, recording: setup, capture: capture) }
        // Cameras start before the server: a wrong size or format, or a busy device, ends the start
        // here with the camera's own message (exit code 2) instead of serving a camera that cannot work.
        defer { for camera in cameras { camera.stop() } }
        for camera in cameras {
            do {
                try camera.start()
            } catch {
                throw StartupError("camera '\(camera.config.id)': \(error)")
            }
            logger.info("camera started", metadata: ["camera": "\(camera.config.id)", "source": "\(camera.source.description)"])
        }
        let shownHost = host == "0.0.0.0" || host == "::" ? "localhost" : host
        let ids = cameras.map(\.config.id).joined(separator: ", ")
        let app = HTTPServer.application(cameras: cameras, recordings: setup.map { RecordingsAccess(root: $0.config.root, retention: $0.retention) },
                                         host: host, port: port, logger: logger) { bound in
            // Printed on stdout so that scripts (and the tests) can find the port when --port 0.
            FileHandle.standardOutput.write(Data("blackbox: serving http://\(shownHost):\(bound)/ (cameras: \(ids))\n".utf8))
        }
        // The cameras come after the server in this group: services stop in reverse order, so the
        // cameras stop first, which ends every live stream, and the server then closes at once.
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: app), .init(service: CameraService(cameras: cameras, logger: logger))],
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

/// A reason the daemon could not start (bad port, unusable device); printed as one line, exit code 2.
struct StartupError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
