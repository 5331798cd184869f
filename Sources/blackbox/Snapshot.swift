import ArgumentParser
import Cameras
import Capture
import Encoding
import Foundation
import Frames
import Logging

/// `blackbox snapshot`: capture a few frames to JPEG files, from any source.
struct Snapshot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Capture frames to JPEG files and print the size and bytes of each.",
        discussion: "Uses the same pipeline as the daemon (overlay included). Without --camera or --device, the test pattern.")

    @Option(help: ArgumentHelp("A camera as for 'run': ID=testpattern…, ID=v4l2:PATH…, ID=rpicam:N….", valueName: "spec"))
    var camera: String?

    @Option(help: ArgumentHelp("A V4L2 device (short for --camera snap=v4l2:PATH).", valueName: "path"))
    var device: String?

    @Option(name: .short, help: "Number of frames (1-1000).")
    var n = 1

    @Option(name: .short, help: ArgumentHelp("Folder to write to.", valueName: "dir"))
    var o = "."

    @Option(help: ArgumentHelp("Size and rate, when the camera spec does not give them.", valueName: "WxH[@FPS]"))
    var size = "1280x720@30"

    @Option(help: "JPEG quality, 1-100.")
    var quality = 85

    @Flag(inversion: .prefixedNo, help: "Burn the date, time and camera id in.")
    var overlay = true

    func config() throws -> CameraConfig {
        guard (1...1000).contains(n) else { throw ValidationError("-n \(n) is out of range; allowed: 1 to 1000") }
        guard camera == nil || device == nil else { throw ValidationError("give --camera or --device, not both") }
        do {
            var defaults = CameraConfig(id: "snap", quality: quality, overlay: overlay, workers: 1)
            defaults.geometry = try CameraConfig.parseGeometry(size[...], base: CameraConfig.defaultGeometry, context: "--size")
            try defaults.validate()
            let spec = camera ?? device.map { "snap=v4l2:\($0)" } ?? "snap=testpattern"
            return try CameraConfig.parse(spec, defaults: defaults)
        } catch {
            throw ValidationError(error.description)
        }
    }

    func validate() throws { _ = try config() }

    func run() throws {
        let config = try config()
        // The daemon waits for a lost camera to come back; a one-off snapshot of a device that is
        // not there fails at once instead.
        if case .v4l2(let path, _) = config.source, !FileManager.default.fileExists(atPath: path) {
            let present = ((try? FileManager.default.contentsOfDirectory(atPath: "/dev")) ?? []).filter { $0.hasPrefix("video") }.sorted()
            throw StartupError("no such device: \(path); video devices here: \(present.isEmpty ? "none" : present.map { "/dev/\($0)" }.joined(separator: ", "))")
        }
        var logger = Logger(label: "snapshot")
        logger.logLevel = .error
        let camera = try Camera(config: config, capture: CaptureOptions(logger: logger, libcamera: LibcameraWiring.factory))
        let frames = camera.bus.subscribe(capacity: n + 4)
        // Without a recorder a camera makes JPEGs for viewers only: this subscriber wants every one.
        camera.jpegDemand.always = true
        do {
            try camera.start()
        } catch {
            throw StartupError("camera '\(config.id)': \(error)")
        }
        defer { camera.stop() }
        try FileManager.default.createDirectory(atPath: o, withIntermediateDirectories: true)
        var written = 0
        let deadline = Date().addingTimeInterval(10)
        while written < n {
            guard Date() < deadline, let frame = frames.next(timeoutNanos: 1_000_000_000) else {
                let health = camera.source.health
                throw StartupError("no picture from \(camera.source.description) after 10 s" + (health.reason.map { ": \($0)" } ?? ""))
            }
            // NO SIGNAL pictures are not snapshots of the camera.
            guard camera.source.health.state == "streaming" else { continue }
            written += 1
            let path = "\(o)/\(config.id)-\(written).jpg"
            let bytes = frame.bytes.getBytes(at: frame.bytes.readerIndex, length: frame.bytes.readableBytes) ?? []
            guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
                throw StartupError("cannot write \(path)")
            }
            print("\(path)  \(frame.width)x\(frame.height)  \(bytes.count) bytes")
        }
    }
}
