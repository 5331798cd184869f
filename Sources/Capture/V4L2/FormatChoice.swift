import Foundation
import Frames
import Rules

/// The capture format a camera asks for.
public enum CaptureFormat: String, Sendable, CaseIterable, CustomStringConvertible {
    /// MJPEG pass-through when the camera offers it, else YUV 4:2:0, NV12, YUYV, grey.
    case auto, mjpeg, yuv420, nv12, yuyv, grey, h264

    /// The spelling on the command line.
    public var description: String { rawValue }

    /// The device pixel formats this choice accepts.
    public var fourccs: [FourCC] {
        switch self {
        case .auto: return [.mjpeg, .jpeg, .yuv420, .nv12, .yuyv, .grey]
        case .mjpeg: return [.mjpeg, .jpeg]
        case .yuv420: return [.yuv420]
        case .nv12: return [.nv12]
        case .yuyv: return [.yuyv]
        case .grey: return [.grey]
        case .h264: return [.h264]
        }
    }
}

/// Picks the device format for a request, or explains why none fits.
public enum FormatChoice {
    /// The pixel format to set, and a note when a fallback was taken.
    public static func choose(_ request: CaptureFormat, width: Int, height: Int, fps: Int, offers: [DeviceFormat],
                              device: String, h264Fallback: Bool = false) throws(CaptureError) -> (fourcc: FourCC, note: String?) {
        if !offers.isEmpty, offers.allSatisfy({ $0.fourcc.isBayer(description: $0.description) }) {
            throw CaptureError.unsupported(
                "\(device) offers only raw Bayer formats (\(offers.map(\.fourcc.description).joined(separator: ", "))): it is a camera "
                + "sensor that needs libcamera (a Raspberry Pi CSI camera). Use it through libcamera: --camera ID=libcamera:N "
                + "('blackbox devices' lists libcamera's cameras)")
        }
        var request = request
        var note: String?
        if request == .h264 {
            guard h264Fallback else {
                throw CaptureError.unsupported(
                    "\(device): H.264 needs a hardware video encoder and this machine has none (the Raspberry Pi 5 has none); "
                    + "use format mjpeg (the camera's own JPEG, passed through untouched) or auto")
            }
            request = .mjpeg
            note = "H.264 asked for, but there is no hardware encoder: using MJPEG instead"
        }
        func offered(_ fourcc: FourCC) -> Bool {
            offers.contains { f in
                f.fourcc == fourcc && f.sizes.contains { $0.width == width && $0.height == height && ($0.fps.isEmpty || $0.fps.contains(fps)) }
            }
        }
        if let pick = request.fourccs.first(where: offered) { return (pick, note) }
        if note != nil, let pick = CaptureFormat.auto.fourccs.first(where: offered) {
            return (pick, "H.264 asked for, but there is no hardware encoder and no MJPEG at this size: using \(pick)")
        }
        let usable = offers.filter { f in CaptureFormat.auto.fourccs.contains(f.fourcc) }
        throw CaptureError.unsupported("\(device) does not offer \(width)x\(height)@\(fps) as \(request); it offers: "
                                       + describe(usable.isEmpty ? offers : usable))
    }

    /// The mode to use when none was asked for: the size closest to 1280x720 (by the ratio of pixel
    /// counts, so 1080p is nearer than 320x240) among
    /// the formats `request` can use, at its highest rate of 30 fps or less (its lowest rate when every
    /// rate is higher). Nil when the device lists no usable size.
    public static func bestMode(_ request: CaptureFormat, offers: [DeviceFormat]) -> FrameGeometry? {
        let fourccs = request == .h264 ? CaptureFormat.auto.fourccs : request.fourccs
        let sizes = offers.filter { fourccs.contains($0.fourcc) }.flatMap(\.sizes).filter { $0.width % 2 == 0 && $0.height % 2 == 0 }
        func distance(_ size: DeviceFormat.Size) -> Double { abs(log(Double(size.width * size.height) / Double(1280 * 720))) }
        func rate(_ size: DeviceFormat.Size) -> Int { size.fps.filter { $0 <= 30 }.max() ?? size.fps.min() ?? 30 }
        let best = sizes.min { a, b in
            let (da, db) = (distance(a), distance(b))
            return da != db ? da < db : rate(a) > rate(b)
        }
        return best.map { FrameGeometry(width: $0.width, height: $0.height, fps: rate($0)) }
    }

    /// `YUYV 640x480@25/15, 1280x720@10; MJPG …` — one line, for error messages.
    public static func describe(_ offers: [DeviceFormat]) -> String {
        guard !offers.isEmpty else { return "nothing" }
        return offers.map { f in
            "\(f.fourcc) " + f.sizes.map { s in "\(s.width)x\(s.height)" + (s.fps.isEmpty ? "" : "@" + s.fps.map(String.init).joined(separator: "/")) }
                .joined(separator: ", ")
        }.joined(separator: "; ")
    }
}

extension CaptureFormat: NamedChoice {}
