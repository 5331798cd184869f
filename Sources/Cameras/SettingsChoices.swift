import Capture
import Frames

/// What can be chosen for a camera at run time, from what its source supports.
public struct SettingsChoices: Codable, Sendable, Equatable {
    /// One frame size and the rates offered at it (the V4L2 listing's type, used for every source).
    public typealias Size = DeviceFormat.Size

    /// Sizes, largest first.
    public var sizes: [Size]
    /// Lowest and highest JPEG quality.
    public var qualityMin = CameraConfig.qualityRule.range.lowerBound
    public var qualityMax = CameraConfig.qualityRule.range.upperBound
    /// Whether quality and overlay take effect (not when the camera's own JPEG is passed through).
    public var reencodes: Bool

    /// Whether `geometry` is one of the choices.
    public func offers(_ geometry: FrameGeometry) -> Bool {
        sizes.contains { $0.width == geometry.width && $0.height == geometry.height && $0.fps.contains(geometry.fps) }
    }

    /// The choices as text for an error message: `640x480@5/10/15/25/30, …`.
    public var summary: String {
        sizes.map { "\($0.width)x\($0.height)@\($0.fps.map(String.init).joined(separator: "/"))" }.joined(separator: ", ")
    }

    /// Sizes and rates a generated or still source renders at any size; these are the common ones.
    static let standardSizes = [(1920, 1080), (1280, 720), (1024, 576), (800, 600), (640, 480), (640, 360), (320, 240)]
    static let standardRates = [30, 25, 20, 15, 10, 5]
    /// Modes of the Pi camera modules through rpicam-vid or libcamera (binned sensor modes and their common crops).
    static let rpicamSizes = [(2304, 1296), (1920, 1080), (1536, 864), (1280, 720), (640, 480)]

    /// The choices for `config`'s source; the current size and rate are always among them.
    public static func `for`(_ config: CameraConfig) -> SettingsChoices {
        var sizes: [Size]
        var reencodes = true
        switch config.source {
        case .testPattern:
            sizes = standardSizes.map { Size(width: $0.0, height: $0.1, fps: standardRates) }
        case .rpicam(_, let codec):
            sizes = rpicamSizes.map { Size(width: $0.0, height: $0.1, fps: standardRates) }
            reencodes = codec != .mjpeg
        case .libcamera:
            sizes = rpicamSizes.map { Size(width: $0.0, height: $0.1, fps: standardRates) }
        case .v4l2(let path, let format):
            sizes = v4l2Sizes(path: path, format: format)
            reencodes = format != .mjpeg
        case .file:
            sizes = []  // a file plays at its own size and rate only
        }
        let g = config.geometry
        if let i = sizes.firstIndex(where: { $0.width == g.width && $0.height == g.height }) {
            if !sizes[i].fps.contains(g.fps) { sizes[i].fps = (sizes[i].fps + [g.fps]).sorted(by: >) }
        } else {
            sizes.append(Size(width: g.width, height: g.height, fps: [g.fps]))
        }
        sizes.sort { ($0.width * $0.height, $0.width) > ($1.width * $1.height, $1.width) }
        return SettingsChoices(sizes: sizes, reencodes: reencodes)
    }

    /// Sizes the device offers in the formats this daemon can capture, rates merged across formats.
    private static func v4l2Sizes(path: String, format: CaptureFormat) -> [Size] {
        var merged: [String: Size] = [:]
        for f in V4L2Inventory.formats(path: path) where format.fourccs.contains(f.fourcc) {
            for s in f.sizes {
                let key = "\(s.width)x\(s.height)"
                var entry = merged[key] ?? Size(width: s.width, height: s.height, fps: [])
                entry.fps = Array(Set(entry.fps + (s.fps.isEmpty ? standardRates : s.fps))).sorted(by: >)
                merged[key] = entry
            }
        }
        return Array(merged.values)
    }
}
