import Frames
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// One device node as `blackbox devices` shows it.
public struct DeviceListing: Sendable {
    /// Identity (nil when the node could not be opened).
    public var info: DeviceInfo?
    /// The node, e.g. `/dev/video0`.
    public var path: String
    /// Stable names in `/dev/v4l/by-id` and `/dev/v4l/by-path` that point to it.
    public var stableNames: [String]
    /// Formats, sizes and rates offered.
    public var formats: [DeviceFormat]
    /// Why it could not be read.
    public var error: String?
}

/// Lists the V4L2 devices of this machine.
public enum V4L2Inventory {
    /// Every `/dev/video*` node, in number order.
    public static func devices(devRoot: String = "/dev") -> [DeviceListing] {
        let nodes = Directory.entries(devRoot).compactMap { name in
            name.hasPrefix("video") ? Int(name.dropFirst(5)).map { ($0, devRoot + "/" + name) } : nil
        }
        let links = stableLinks(devRoot: devRoot)
        return nodes.sorted { $0.0 < $1.0 }.map { _, path in
            var listing = DeviceListing(info: nil, path: path, stableNames: links[path] ?? [], formats: [], error: nil)
            do {
                let device = try V4L2Device(path: path)
                defer { device.close() }
                listing.info = try device.info()
                listing.formats = device.formats()
            } catch {
                listing.error = "\(error)"
            }
            return listing
        }
    }

    /// The formats one device offers (empty when it cannot be opened).
    public static func formats(path: String) -> [DeviceFormat] {
        guard let device = try? V4L2Device(path: path) else { return [] }
        defer { device.close() }
        return device.formats()
    }

    private static func stableLinks(devRoot: String) -> [String: [String]] {
        var out: [String: [String]] = [:]
        for folder in ["by-id", "by-path"] {
            let base = "\(devRoot)/v4l/\(folder)"
            for name in Directory.entries(base) {
                guard let real = Directory.resolved("\(base)/\(name)") else { continue }
                out[real, default: []].append("\(base)/\(name)")
            }
        }
        return out
    }
}
