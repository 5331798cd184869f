import Analysis
import Capture
import Encoding
import Frames
import Recording
import Rules

/// Where a camera's frames come from.
public enum SourceSpec: Sendable, Equatable, CustomStringConvertible {
    /// The built-in moving test pattern.
    case testPattern
    /// A V4L2 device node (or a /dev/v4l/by-id path) in a given capture format.
    case v4l2(path: String, format: CaptureFormat)
    /// rpicam-vid's camera N as a supervised subprocess.
    case rpicam(index: Int, codec: RpicamSource.Codec)
    /// A Y4M file played in a loop at its own size and rate.
    case file(path: String)
    /// A camera read in-process through libcamera: an index in libcamera's list or a camera id.
    case libcamera(camera: String)

    /// The spelling used on the command line.
    public var description: String {
        switch self {
        case .testPattern: return "testpattern"
        case .v4l2(let path, let format): return "v4l2:\(path),\(format)"
        case .rpicam(let index, let codec): return "rpicam:\(index),\(codec.rawValue)"
        case .file(let path): return "file:\(path)"
        case .libcamera(let camera): return "libcamera:\(camera)"
        }
    }
}

/// A camera's identity, source and settings.
public struct CameraConfig: Sendable, Equatable {
    /// Short id used in URLs, file names and the overlay (`front`, `rear`).
    public var id: String
    /// Frame source.
    public var source: SourceSpec
    /// Size and rate.
    public var geometry: FrameGeometry
    /// Whether the size and rate were asked for (spec, `--size` or the file); when not, a V4L2
    /// camera runs at its own best mode instead of failing without 1280x720@30.
    public var geometryExplicit = false
    /// JPEG quality, 1–100.
    public var quality: Int
    /// Whether the date/time overlay is burned in.
    public var overlay: Bool
    /// Encoder threads for this camera.
    public var workers: Int
    /// Recording codec of this camera (nil: the recording's default).
    public var codec: VideoCodec?
    /// What this camera records (nil: the recording's default mode).
    public var recordMode: RecordingMode?
    /// This camera's motion detector settings and zones (nil: the `[motion]` defaults).
    public var motion: MotionSettings?
    /// How the camera is mounted (turned half round, mirrored); applied to every picture before anything sees it.
    public var orientation = Orientation()
    /// Where its sound comes from (nil: no sound, the default).
    public var audio: AudioInput?
    /// AAC bit rate of its sound, bits per second.
    public var audioBitrate = AudioFormat.defaultBitrate
    /// Whether its sound is muted (silence recorded; changed in the UI, the API or MQTT and kept across restarts).
    public var audioMuted = false

    /// Default size and rate: 1280x720 @ 30 fps.
    public static let defaultGeometry = FrameGeometry(width: 1280, height: 720, fps: 30)
    /// Default JPEG quality.
    public static let defaultQuality = 80
    /// Allowed JPEG qualities.
    public static let qualityRule = RangeRule(1...100)
    /// Allowed encoder threads per camera.
    public static let workersRule = RangeRule(1...16)
    /// Allowed widths and heights.
    public static let sizeRange = 16...4096
    /// Allowed frame rates.
    public static let fpsRule = RangeRule(1...120)

    /// Creates a configuration (values are not validated here; see `validate()`).
    public init(id: String, source: SourceSpec = .testPattern, geometry: FrameGeometry = CameraConfig.defaultGeometry,
                quality: Int = CameraConfig.defaultQuality, overlay: Bool = true, workers: Int = 2) {
        self.id = id
        self.source = source
        self.geometry = geometry
        self.quality = quality
        self.overlay = overlay
        self.workers = workers
    }

    /// This configuration with a file's own size and rate, or a V4L2 camera's best mode when no size
    /// was asked for (see `FormatChoice.bestMode`) and a line saying which was chosen; unchanged otherwise.
    public func withDeviceMode() -> (config: CameraConfig, note: String?) {
        if case .file(let path) = source, let own = try? FileSource.geometry(of: path) {
            var config = self
            config.geometry = own
            return (config, nil)
        }
        guard !geometryExplicit, case .v4l2(let path, let format) = source,
              let best = FormatChoice.bestMode(format, offers: V4L2Inventory.formats(path: path)), best != geometry else { return (self, nil) }
        var config = self
        config.geometry = best
        return (config, "no size given: using \(path)'s best mode \(best) (closest to 1280x720, highest rate up to 30 fps)")
    }

    /// Throws a `ConfigError` naming the first setting that is out of range.
    public func validate() throws(ConfigError) {
        try Self.validate(id: id)
        try Self.validate(geometry: geometry, context: "camera '\(id)'")
        if let problem = Self.qualityRule.problem(quality, name: "quality") ?? Self.workersRule.problem(workers, name: "encoder workers")
            ?? AudioFormat.bitrateRule.problem(audioBitrate, name: "audio_bitrate") {
            throw ConfigError("camera '\(id)': \(problem)")
        }
        do {
            try Orientation.checkRotation(orientation.rotation)
        } catch {
            throw ConfigError("camera '\(id)': \(error)")
        }
    }

    static func validate(id: String) throws(ConfigError) {
        let allowed = id.utf8.allSatisfy { c in
            (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
                || c == UInt8(ascii: "-") || c == UInt8(ascii: "_")
        }
        guard !id.isEmpty, id.utf8.count <= 32, allowed else {
            throw ConfigError("camera id '\(id)' is not allowed; use 1 to 32 characters from a-z, 0-9, '-' and '_'")
        }
    }

    static func validate(geometry g: FrameGeometry, context: String) throws(ConfigError) {
        guard sizeRange.contains(g.width), sizeRange.contains(g.height), g.width % 2 == 0, g.height % 2 == 0 else {
            throw ConfigError("\(context): size \(g.width)x\(g.height) is not allowed; width and height must be even numbers from 16 to 4096")
        }
        if let problem = fpsRule.problem(g.fps, name: "fps") {
            throw ConfigError("\(context): \(problem)")
        }
    }

    /// Parses the command line's `ID=testpattern[:WxH][@FPS]` or `ID=v4l2:PATH[:WxH][@FPS][,FORMAT]`,
    /// filling unspecified settings from `defaults`.
    public static func parse(_ spec: String, defaults: CameraConfig, defaultFormat: CaptureFormat = .auto) throws(ConfigError) -> CameraConfig {
        let usage = "expected ID=testpattern[:WxH][@FPS], ID=v4l2:/dev/videoN[:WxH][@FPS][,FORMAT], ID=libcamera:N|NAME[:WxH][@FPS], "
            + "ID=rpicam:N[:WxH][@FPS][,yuv420|mjpeg] or ID=file:PATH.y4m, "
            + "e.g. front=testpattern:1280x720@30"
        guard let eq = spec.firstIndex(of: "=") else {
            throw ConfigError("camera '\(spec)' has no '='; \(usage)")
        }
        var config = defaults
        config.id = String(spec[..<eq])
        try validate(id: config.id)
        let rest = spec[spec.index(after: eq)...]
        if rest.hasPrefix("v4l2:") {
            return try parseV4L2(rest.dropFirst(5), config: config, defaultFormat: defaultFormat, usage: usage)
        }
        if rest.hasPrefix("rpicam:") {
            return try parseRpicam(rest.dropFirst(7), config: config, usage: usage)
        }
        if rest.hasPrefix("libcamera:") {
            var config = config
            let (camera, geometry, option) = splitDevice(rest.dropFirst(10))
            guard !camera.isEmpty, option == nil else {
                throw ConfigError("camera '\(config.id)': libcamera needs a camera index or id and nothing after a comma; \(usage)")
            }
            config.source = .libcamera(camera: String(camera))
            return try withGeometry(config, geometry)
        }
        if rest.hasPrefix("file:") {
            // The file says its own size and rate (read when the camera starts).
            guard rest.count > 5 else { throw ConfigError("camera '\(config.id)': file: needs a path to a Y4M file; \(usage)") }
            config.source = .file(path: String(rest.dropFirst(5)))
            return config
        }
        let kind: Substring
        var params: Substring = ""
        if let colon = rest.firstIndex(of: ":") {
            kind = rest[..<colon]
            params = rest[rest.index(after: colon)...]
        } else if let at = rest.firstIndex(of: "@") {
            kind = rest[..<at]
            params = rest[at...]
        } else {
            kind = rest
        }
        switch kind {
        case "testpattern": config.source = .testPattern
        default: throw ConfigError("camera '\(config.id)': unknown source '\(kind)'; allowed: testpattern, v4l2, libcamera, rpicam, file; \(usage)")
        }
        if !params.isEmpty {
            config.geometry = try parseGeometry(params, base: defaults.geometry, context: "camera '\(config.id)'")
        }
        try validate(geometry: config.geometry, context: "camera '\(config.id)'")
        return config
    }

    /// A device spec `DEVICE[:WxH][@FPS][,OPTION]` split from the right (by-path device names contain colons).
    private static func splitDevice(_ text: Substring) -> (device: Substring, geometry: Substring, option: Substring?) {
        var rest = text
        var option: Substring?
        if let comma = rest.lastIndex(of: ",") {
            option = rest[rest.index(after: comma)...]
            rest = rest[..<comma]
        }
        var geometry: Substring = ""
        if let at = rest.lastIndex(of: "@"), Int(rest[rest.index(after: at)...]) != nil {
            geometry = rest[at...]
            rest = rest[..<at]
        }
        if let colon = rest.lastIndex(of: ":") {
            let size = rest[rest.index(after: colon)...]
            if size.contains("x"), size.split(separator: "x").allSatisfy({ Int($0) != nil }) {
                geometry = size + geometry
                rest = rest[..<colon]
            }
        }
        return (rest, geometry, option)
    }

    private static func withGeometry(_ config: CameraConfig, _ text: Substring) throws(ConfigError) -> CameraConfig {
        var config = config
        if !text.isEmpty {
            config.geometry = try parseGeometry(text, base: config.geometry, context: "camera '\(config.id)'")
            config.geometryExplicit = true
        }
        try validate(geometry: config.geometry, context: "camera '\(config.id)'")
        return config
    }

    private static func parseV4L2(_ text: Substring, config: CameraConfig, defaultFormat: CaptureFormat, usage: String) throws(ConfigError) -> CameraConfig {
        var config = config
        let (device, geometry, option) = splitDevice(text)
        var format = defaultFormat
        if let name = option {
            guard let f = CaptureFormat(rawValue: String(name)) else {
                throw ConfigError("camera '\(config.id)': format '\(name)' is not known; allowed: \(CaptureFormat.allowed)")
            }
            format = f
        }
        guard device.hasPrefix("/") else {
            throw ConfigError("camera '\(config.id)': device '\(device)' is not a path; \(usage)")
        }
        config.source = .v4l2(path: String(device), format: format)
        return try withGeometry(config, geometry)
    }

    private static func parseRpicam(_ text: Substring, config: CameraConfig, usage: String) throws(ConfigError) -> CameraConfig {
        var config = config
        let (device, geometry, option) = splitDevice(text)
        guard let index = Int(device), (0...15).contains(index) else {
            throw ConfigError("camera '\(config.id)': rpicam camera '\(device)' is not a number from 0 to 15; \(usage)")
        }
        var codec = RpicamSource.Codec.yuv420
        if let name = option {
            guard let c = RpicamSource.Codec(rawValue: String(name)) else {
                throw ConfigError("camera '\(config.id)': rpicam codec '\(name)' is not known; allowed: yuv420, mjpeg")
            }
            codec = c
        }
        config.source = .rpicam(index: index, codec: codec)
        return try withGeometry(config, geometry)
    }

    /// Parses `WxH`, `WxH@FPS` or `@FPS`, keeping what is not given from `base`.
    public static func parseGeometry(_ text: Substring, base: FrameGeometry, context: String) throws(ConfigError) -> FrameGeometry {
        var g = base
        var sizePart = text
        if let at = text.firstIndex(of: "@") {
            sizePart = text[..<at]
            let fpsText = text[text.index(after: at)...]
            guard let fps = Int(fpsText) else {
                throw ConfigError("\(context): frame rate '\(fpsText)' is not a whole number; expected WxH@FPS, e.g. 1280x720@30")
            }
            g.fps = fps
        }
        if !sizePart.isEmpty {
            let dims = sizePart.split(separator: "x", omittingEmptySubsequences: false)
            guard dims.count == 2, let w = Int(dims[0]), let h = Int(dims[1]) else {
                throw ConfigError("\(context): size '\(sizePart)' is not WIDTHxHEIGHT; e.g. 1280x720")
            }
            g.width = w
            g.height = h
        }
        try validate(geometry: g, context: context)
        return g
    }
}

/// A configuration value that is not allowed; the message names the value and what is allowed.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    /// One-line explanation.
    public let description: String
    /// Creates an error with its message.
    public init(_ description: String) { self.description = description }
}
