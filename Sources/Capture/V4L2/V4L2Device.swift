import CShims
import Frames

#if canImport(Glibc)
import Glibc
#endif

/// A V4L2 pixel format code (fourcc).
public struct FourCC: Hashable, Sendable, CustomStringConvertible {
    /// The code as the kernel stores it.
    public let raw: UInt32

    /// Wraps a raw code.
    public init(_ raw: UInt32) { self.raw = raw }

    /// `YUYV`, `MJPG`, `NV12`, …
    public var description: String {
        String(decoding: (0..<4).map { UInt8(truncatingIfNeeded: raw >> (8 * $0)) }.map { $0 < 32 ? UInt8(ascii: "?") : $0 }, as: UTF8.self)
            .trimmingTrailingSpaces
    }

    static let yuyv = FourCC(BB_PIX_FMT_YUYV)
    static let nv12 = FourCC(BB_PIX_FMT_NV12)
    static let yuv420 = FourCC(BB_PIX_FMT_YUV420)
    static let mjpeg = FourCC(BB_PIX_FMT_MJPEG)
    static let jpeg = FourCC(BB_PIX_FMT_JPEG)
    static let grey = FourCC(BB_PIX_FMT_GREY)
    static let h264 = FourCC(BB_PIX_FMT_H264)

    private static let bayer: Set<String> = [
        "BA81", "GBRG", "GRBG", "RGGB", "BG10", "GB10", "BA10", "RG10", "BG12", "GB12", "BA12", "RG12",
        "BG16", "GB16", "GR16", "RG16", "pBAA", "pGAA", "pgAA", "pRAA", "pBCC", "pGCC", "pgCC", "pRCC",
        "PC1B", "PC1G", "PC1g", "PC1R",
    ]

    /// Whether this is a raw Bayer format (what Pi CSI sensors give on /dev/video0), judged by the
    /// code or by the driver's description.
    public func isBayer(description: String = "") -> Bool {
        Self.bayer.contains(self.description) || description.lowercased().contains("bayer")
    }
}

extension String {
    var trimmingTrailingSpaces: String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}

/// What a device offers: formats, their sizes and frame rates.
public struct DeviceFormat: Sendable, Equatable {
    /// One frame size and the rates offered at it.
    public struct Size: Sendable, Equatable, Codable {
        /// Width in pixels.
        public var width: Int
        /// Height in pixels.
        public var height: Int
        /// Frame rates offered (whole fps, highest first); empty when the driver does not say.
        public var fps: [Int]

        /// Creates a size entry.
        public init(width: Int, height: Int, fps: [Int]) {
            self.width = width
            self.height = height
            self.fps = fps
        }
    }

    /// Pixel format.
    public var fourcc: FourCC
    /// The driver's description.
    public var description: String
    /// Whether it is a compressed format.
    public var compressed: Bool
    /// Sizes offered.
    public var sizes: [Size]

    /// Creates a format entry.
    public init(fourcc: FourCC, description: String, compressed: Bool, sizes: [Size]) {
        self.fourcc = fourcc
        self.description = description
        self.compressed = compressed
        self.sizes = sizes
    }
}

/// Identity of a capture device.
public struct DeviceInfo: Sendable {
    /// Device node.
    public var path: String
    /// Kernel driver name.
    public var driver: String
    /// Card (model) name.
    public var card: String
    /// Bus location.
    public var bus: String
    /// Whether it captures video and streams (mmap).
    public var canCapture: Bool
}

/// An open V4L2 device node with mmap streaming buffers. Used from one thread, except `queue`,
/// which encoder threads call to give buffers back (the kernel serialises ioctls per device).
final class V4L2Device: @unchecked Sendable {
    let path: String
    let fd: Int32
    private(set) var buffers: [(start: UnsafeMutableRawPointer, length: Int)] = []
    private var streaming = false

    /// Opens `path` non-blocking.
    init(path: String) throws(CaptureError) {
        self.path = path
        fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw CaptureError.system(errno, "open", path) }
    }

    private var isClosed = false

    deinit { close() }

    private func ioctl<T>(_ request: UInt, _ arg: inout T, _ what: String) throws(CaptureError) {
        guard blackbox_ioctl(fd, request, &arg) == 0 else { throw CaptureError.system(errno, what, path) }
    }

    /// VIDIOC_QUERYCAP.
    func info() throws(CaptureError) -> DeviceInfo {
        var cap = v4l2_capability()
        try ioctl(BB_VIDIOC_QUERYCAP, &cap, "VIDIOC_QUERYCAP")
        let caps = cap.capabilities & BB_CAP_DEVICE_CAPS != 0 ? cap.device_caps : cap.capabilities
        return DeviceInfo(path: path, driver: cString(cap.driver), card: cString(cap.card), bus: cString(cap.bus_info),
                          canCapture: caps & BB_CAP_VIDEO_CAPTURE != 0 && caps & BB_CAP_STREAMING != 0)
    }

    /// Every format, size and frame rate the device offers (discrete sizes; a stepwise range is
    /// reported by its smallest and largest size).
    func formats() -> [DeviceFormat] {
        var out: [DeviceFormat] = []
        for index in 0..<64 {
            var desc = v4l2_fmtdesc()
            desc.index = UInt32(index)
            desc.type = BB_BUF_TYPE_VIDEO_CAPTURE
            guard blackbox_ioctl(fd, BB_VIDIOC_ENUM_FMT, &desc) == 0 else { break }
            let fourcc = FourCC(desc.pixelformat)
            var sizes: [DeviceFormat.Size] = []
            for sizeIndex in 0..<256 {
                var fs = v4l2_frmsizeenum()
                fs.index = UInt32(sizeIndex)
                fs.pixel_format = desc.pixelformat
                guard blackbox_ioctl(fd, BB_VIDIOC_ENUM_FRAMESIZES, &fs) == 0 else { break }
                if fs.type == BB_FRMSIZE_TYPE_DISCRETE {
                    let (w, h) = (Int(fs.discrete.width), Int(fs.discrete.height))
                    sizes.append(.init(width: w, height: h, fps: rates(desc.pixelformat, w, h)))
                } else {
                    let s = fs.stepwise
                    for (w, h) in [(Int(s.min_width), Int(s.min_height)), (Int(s.max_width), Int(s.max_height))] {
                        sizes.append(.init(width: w, height: h, fps: rates(desc.pixelformat, w, h)))
                    }
                    break
                }
            }
            out.append(DeviceFormat(fourcc: fourcc, description: cString(desc.description), compressed: desc.flags & 1 != 0, sizes: sizes))
        }
        return out
    }

    private func rates(_ pixelformat: UInt32, _ w: Int, _ h: Int) -> [Int] {
        var out: [Int] = []
        for i in 0..<64 {
            var fi = v4l2_frmivalenum()
            fi.index = UInt32(i)
            fi.pixel_format = pixelformat
            fi.width = UInt32(w)
            fi.height = UInt32(h)
            guard blackbox_ioctl(fd, BB_VIDIOC_ENUM_FRAMEINTERVALS, &fi) == 0 else { break }
            if fi.type == BB_FRMIVAL_TYPE_DISCRETE {
                let d = fi.discrete
                if d.numerator > 0 { out.append(Int((Double(d.denominator) / Double(d.numerator)).rounded())) }
            } else {
                // A continuous or stepwise range: every whole rate inside it is on offer.
                let fastest = fi.stepwise.min, slowest = fi.stepwise.max
                if fastest.numerator > 0, slowest.numerator > 0 {
                    let high = min(240, Int(Double(fastest.denominator) / Double(fastest.numerator)))
                    let low = max(1, Int((Double(slowest.denominator) / Double(slowest.numerator)).rounded(.up)))
                    if low <= high { out += Array(low...high) }
                }
                break
            }
        }
        return Array(Set(out)).sorted(by: >)
    }

    /// VIDIOC_S_FMT; returns what the driver set: size, bytes per line and image size.
    func setFormat(_ fourcc: FourCC, width: Int, height: Int) throws(CaptureError) -> (width: Int, height: Int, bytesPerLine: Int, sizeImage: Int) {
        var f = v4l2_format()
        f.type = BB_BUF_TYPE_VIDEO_CAPTURE
        f.fmt.pix.width = UInt32(width)
        f.fmt.pix.height = UInt32(height)
        f.fmt.pix.pixelformat = fourcc.raw
        f.fmt.pix.field = BB_FIELD_ANY
        try ioctl(BB_VIDIOC_S_FMT, &f, "VIDIOC_S_FMT")
        guard f.fmt.pix.pixelformat == fourcc.raw else {
            throw CaptureError.unsupported("\(path) did not accept pixel format \(fourcc)")
        }
        return (Int(f.fmt.pix.width), Int(f.fmt.pix.height), Int(f.fmt.pix.bytesperline), Int(f.fmt.pix.sizeimage))
    }

    /// VIDIOC_S_PARM (after S_FMT: some drivers reset the rate when the format changes); returns the rate set.
    func setFrameRate(_ fps: Int) throws(CaptureError) -> Double {
        var p = v4l2_streamparm()
        p.type = BB_BUF_TYPE_VIDEO_CAPTURE
        p.parm.capture.timeperframe = v4l2_fract(numerator: 1, denominator: UInt32(fps))
        try ioctl(BB_VIDIOC_S_PARM, &p, "VIDIOC_S_PARM")
        let t = p.parm.capture.timeperframe
        return t.numerator > 0 ? Double(t.denominator) / Double(t.numerator) : Double(fps)
    }

    /// REQBUFS with MMAP, QUERYBUF and mmap each buffer.
    func mapBuffers(count: Int) throws(CaptureError) {
        var req = v4l2_requestbuffers()
        req.count = UInt32(count)
        req.type = BB_BUF_TYPE_VIDEO_CAPTURE
        req.memory = BB_MEMORY_MMAP
        try ioctl(BB_VIDIOC_REQBUFS, &req, "VIDIOC_REQBUFS")
        guard req.count >= 2 else { throw CaptureError.unsupported("\(path) gave only \(req.count) buffers") }
        for i in 0..<Int(req.count) {
            var b = v4l2_buffer()
            b.index = UInt32(i)
            b.type = BB_BUF_TYPE_VIDEO_CAPTURE
            b.memory = BB_MEMORY_MMAP
            try ioctl(BB_VIDIOC_QUERYBUF, &b, "VIDIOC_QUERYBUF")
            let start = mmap(nil, Int(b.length), PROT_READ | PROT_WRITE, MAP_SHARED, fd, off_t(b.m.offset))
            guard let start, start != MAP_FAILED else { throw CaptureError.system(errno, "mmap", path) }
            buffers.append((start, Int(b.length)))
        }
    }

    /// VIDIOC_QBUF of buffer `index`.
    func queue(_ index: Int) throws(CaptureError) {
        var b = v4l2_buffer()
        b.index = UInt32(index)
        b.type = BB_BUF_TYPE_VIDEO_CAPTURE
        b.memory = BB_MEMORY_MMAP
        try ioctl(BB_VIDIOC_QBUF, &b, "VIDIOC_QBUF")
    }

    /// VIDIOC_STREAMON.
    func streamOn() throws(CaptureError) {
        var type = Int32(BB_BUF_TYPE_VIDEO_CAPTURE)
        try ioctl(BB_VIDIOC_STREAMON, &type, "VIDIOC_STREAMON")
        streaming = true
    }

    /// A dequeued buffer.
    struct Dequeued {
        var index: Int
        var bytesUsed: Int
        var sequence: UInt32
        var flags: UInt32
    }

    /// VIDIOC_DQBUF; nil when no buffer is ready (EAGAIN).
    func dequeue() throws(CaptureError) -> Dequeued? {
        var b = v4l2_buffer()
        b.type = BB_BUF_TYPE_VIDEO_CAPTURE
        b.memory = BB_MEMORY_MMAP
        guard blackbox_ioctl(fd, BB_VIDIOC_DQBUF, &b) == 0 else {
            if errno == EAGAIN { return nil }
            throw CaptureError.system(errno, "VIDIOC_DQBUF", path)
        }
        return Dequeued(index: Int(b.index), bytesUsed: Int(b.bytesused), sequence: b.sequence, flags: b.flags)
    }

    /// STREAMOFF, munmap every buffer, release them (REQBUFS 0) and close: every step is tried even
    /// when an earlier one fails (a disconnected device fails most of them).
    func close() {
        guard !isClosed else { return }
        isClosed = true
        if streaming {
            var type = Int32(BB_BUF_TYPE_VIDEO_CAPTURE)
            _ = blackbox_ioctl(fd, BB_VIDIOC_STREAMOFF, &type)
            streaming = false
        }
        for b in buffers { munmap(b.start, b.length) }
        if !buffers.isEmpty {
            var req = v4l2_requestbuffers()
            req.type = BB_BUF_TYPE_VIDEO_CAPTURE
            req.memory = BB_MEMORY_MMAP
            _ = blackbox_ioctl(fd, BB_VIDIOC_REQBUFS, &req)
        }
        buffers = []
        _ = Glibc.close(fd)
    }
}

private func cString<T>(_ tuple: T) -> String {
    withUnsafeBytes(of: tuple) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
}
