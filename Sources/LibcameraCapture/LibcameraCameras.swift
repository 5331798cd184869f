import CaptureGlue
#if canImport(Glibc)
import Glibc
#endif

/// A camera libcamera sees: its id (what `libcamera:NAME` takes), model and sizes.
public struct LibcameraCamera: Sendable, Equatable {
    /// libcamera's id, e.g. `/base/axi/pcie@120000/rp1/i2c@88000/imx708@1a` on a Pi 5.
    public var id: String
    /// The name GStreamer's device provider shows (model).
    public var model: String
    /// Frame sizes offered, `WxH`.
    public var sizes: [String]
}

/// libcamera's cameras, through GStreamer's libcamera device provider.
public enum LibcameraCameras {
    /// The cameras in libcamera's order (the `N` of `libcamera:N`), or why they cannot be listed.
    public static func list() -> Result<[LibcameraCamera], LibcameraError> {
        var lines: UnsafeMutablePointer<CChar>?
        var error: UnsafeMutablePointer<CChar>?
        let count = bb_libcamera_list(&lines, &error)
        defer { free(lines); free(error) }
        guard count >= 0 else { return .failure(LibcameraError(error.map { String(cString: $0) } ?? "libcamera could not be asked")) }
        return .success(parse(lines.map { String(cString: $0) } ?? ""))
    }

    /// Parses the glue's `ID\tMODEL\tWxH,…` lines.
    static func parse(_ text: String) -> [LibcameraCamera] {
        text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count >= 2, !fields[0].isEmpty else { return nil }
            let sizes = fields.count > 2 ? fields[2].split(separator: ",").map(String.init) : []
            let sorted = Set(sizes).sorted { a, b in area(a) == area(b) ? a < b : area(a) < area(b) }
            return LibcameraCamera(id: String(fields[0]), model: String(fields[1]), sizes: sorted)
        }
    }

    private static func area(_ size: String) -> Int {
        size.split(separator: "x").compactMap { Int($0) }.reduce(1, *)
    }

    /// The camera `selector` names: an index into `cameras`, or a camera id (or the end of one, e.g. `imx708@1a`).
    public static func find(_ selector: String, in cameras: [LibcameraCamera]) -> Result<LibcameraCamera, LibcameraError> {
        if let index = Int(selector) {
            guard cameras.indices.contains(index) else {
                return .failure(LibcameraError("libcamera has no camera \(index); it sees \(seen(cameras))"))
            }
            return .success(cameras[index])
        }
        if let camera = cameras.first(where: { $0.id == selector || $0.id.hasSuffix("/" + selector) }) {
            return .success(camera)
        }
        return .failure(LibcameraError("libcamera has no camera '\(selector)'; it sees \(seen(cameras))"))
    }

    private static func seen(_ cameras: [LibcameraCamera]) -> String {
        cameras.isEmpty ? "none" : cameras.enumerated().map { "\($0.offset): \($0.element.id)" }.joined(separator: ", ")
    }
}

/// Why libcamera cannot give a camera's pictures, said for the status page and the log.
public struct LibcameraError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The sentence.
    public let description: String

    /// An error saying `description`.
    public init(_ description: String) {
        self.description = description
    }

    /// The reason shown for a pipeline error: a camera another program holds is named as such (libcamera refuses to
    /// acquire it), an empty camera list as no camera; anything else as GStreamer said it.
    public static func reason(forPipelineError text: String) -> String {
        let lower = text.lowercased()
        if lower.contains("acquire") || lower.contains("in use") || lower.contains("busy") {
            return "camera held by another program (libcamera could not acquire it): \(text)"
        }
        if lower.contains("cameras() is empty") || lower.contains("no camera") {
            return "libcamera sees no camera: \(text)"
        }
        if lower.contains("not-negotiated") || lower.contains("not negotiated") {
            return "the camera cannot give this size exactly ('blackbox devices' lists its sizes): \(text)"
        }
        return text
    }
}
