import CTurboJPEG
import Frames
import Platform

/// Errors from libjpeg-turbo.
public struct JPEGError: Error, CustomStringConvertible {
    /// What failed, with libjpeg-turbo's own message.
    public let description: String
    init(_ what: String, handle: tjhandle?) {
        let detail = handle.flatMap { tjGetErrorStr2($0) }.map { String(cString: $0) } ?? "unknown error"
        description = "\(what): \(detail)"
    }
}

/// One TurboJPEG compressor fed raw planes (no colour conversion). Not thread-safe: each
/// encoder thread owns one, with an output buffer sized once for the largest frame.
public final class JPEGEncoder {
    private let handle: tjhandle
    private var output: UnsafeMutablePointer<UInt8>?
    private var outputCapacity: UInt = 0
    private let counted: InstanceCount?

    /// Creates a compressor, counted in `counted` while it exists.
    public init(counted: InstanceCount? = nil) throws {
        guard let h = tjInitCompress() else { throw JPEGError("tjInitCompress", handle: nil) }
        handle = h
        self.counted = counted
        counted?.opened()
    }

    deinit {
        if let output { tjFree(output) }
        tjDestroy(handle)
        counted?.closed()
    }

    /// TurboJPEG subsampling constant for a planar format.
    static func subsampling(_ format: PixelFormat) -> Int32 {
        switch format {
        case .yuv420: return Int32(TJSAMP_420.rawValue)
        case .yuv422: return Int32(TJSAMP_422.rawValue)
        case .grey, .jpeg: return Int32(TJSAMP_GRAY.rawValue)
        }
    }

    /// Compresses `frame`'s planes at `quality` (1–100) and passes the JPEG bytes to `body`.
    /// The bytes are valid only inside `body` (the buffer is reused for the next frame).
    public func encode<T>(_ frame: RawFrame, quality: Int, _ body: (UnsafeRawBufferPointer) throws -> T) throws -> T {
        let subsamp = Self.subsampling(frame.format)
        let needed = tjBufSize(Int32(frame.width), Int32(frame.height), subsamp)
        if needed > outputCapacity {
            if let output { tjFree(output) }
            output = tjAlloc(Int32(needed))
            outputCapacity = output == nil ? 0 : needed
        }
        guard output != nil else { throw JPEGError("tjAlloc(\(needed))", handle: nil) }
        var size = outputCapacity
        var strides = frame.planes.map { Int32($0.stride) }
        var planes: [UnsafePointer<UInt8>?] = frame.planes.map { UnsafePointer($0.base) }
        let rc = planes.withUnsafeMutableBufferPointer { p in
            strides.withUnsafeMutableBufferPointer { s in
                tjCompressFromYUVPlanes(handle, p.baseAddress, Int32(frame.width), s.baseAddress, Int32(frame.height),
                                        subsamp, &output, &size, Int32(quality), TJFLAG_NOREALLOC)
            }
        }
        guard rc == 0 else { throw JPEGError("tjCompressFromYUVPlanes \(frame.width)x\(frame.height)", handle: handle) }
        return try body(UnsafeRawBufferPointer(start: output, count: Int(size)))
    }
}

/// A decoded picture's header.
public struct JPEGInfo: Sendable, Equatable {
    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int

    /// Creates a header description.
    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }
}

/// TurboJPEG decompressor, for tests, the benchmark's input image and validating camera JPEGs.
public final class JPEGDecoder {
    private let handle: tjhandle

    /// Creates a decompressor.
    public init() throws {
        guard let h = tjInitDecompress() else { throw JPEGError("tjInitDecompress", handle: nil) }
        handle = h
    }

    deinit { tjDestroy(handle) }

    /// Reads the size from a JPEG's header.
    public func info(_ jpeg: UnsafeRawBufferPointer) throws -> JPEGInfo {
        var w: Int32 = 0, h: Int32 = 0, samp: Int32 = 0, cs: Int32 = 0
        let rc = tjDecompressHeader3(handle, jpeg.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt(jpeg.count), &w, &h, &samp, &cs)
        guard rc == 0 else { throw JPEGError("tjDecompressHeader3", handle: handle) }
        return JPEGInfo(width: Int(w), height: Int(h))
    }

    /// Decodes a JPEG fully to packed RGB (3 bytes per pixel); throws on corrupt data.
    public func decodeRGB(_ jpeg: UnsafeRawBufferPointer) throws -> (info: JPEGInfo, rgb: [UInt8]) {
        let info = try self.info(jpeg)
        var rgb = [UInt8](repeating: 0, count: info.width * info.height * 3)
        let rc = rgb.withUnsafeMutableBufferPointer { out in
            tjDecompress2(handle, jpeg.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt(jpeg.count), out.baseAddress,
                          Int32(info.width), 0, Int32(info.height), Int32(TJPF_RGB.rawValue), TJFLAG_STOPONWARNING)
        }
        guard rc == 0 else { throw JPEGError("tjDecompress2", handle: handle) }
        return (info, rgb)
    }
}

extension JPEGDecoder {
    /// Decodes a JPEG to YUV 4:2:0 `planes` of its size (Y as decoded; chroma from the JPEG's own
    /// 4:2:0, 4:2:2 or 4:4:4 by taking every n-th sample; neutral for greyscale). `scratch` keeps the
    /// native planes between calls. Throws on corrupt data or a size other than the planes'.
    public func decodeI420(_ jpeg: UnsafeRawBufferPointer, into planes: [Plane], scratch: inout [UInt8]) throws {
        var w: Int32 = 0, h: Int32 = 0, samp: Int32 = 0, cs: Int32 = 0
        let source = jpeg.baseAddress?.assumingMemoryBound(to: UInt8.self)
        guard tjDecompressHeader3(handle, source, UInt(jpeg.count), &w, &h, &samp, &cs) == 0 else { throw JPEGError("tjDecompressHeader3", handle: handle) }
        guard Int(w) == planes[0].width, Int(h) == planes[0].height, planes.count == 3 else {
            throw JPEGError("camera JPEG is \(w)x\(h), the stream \(planes[0].width)x\(planes[0].height)", handle: nil)
        }
        let components = samp == Int32(TJSAMP_GRAY.rawValue) ? 1 : 3
        let sizes = (0..<components).map { c in (w: Int(tjPlaneWidth(Int32(c), w, samp)), h: Int(tjPlaneHeight(Int32(c), h, samp))) }
        let total = sizes.reduce(0) { $0 + $1.w * $1.h }
        if scratch.count < total { scratch = [UInt8](repeating: 0, count: total) }
        let rc = scratch.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var offsets = 0
            var pointers: [UnsafeMutablePointer<UInt8>?] = sizes.map { size in
                defer { offsets += size.w * size.h }
                return buffer.baseAddress! + offsets
            }
            var strides = sizes.map { Int32($0.w) }
            let rc = pointers.withUnsafeMutableBufferPointer { p in
                strides.withUnsafeMutableBufferPointer { st in
                    tjDecompressToYUVPlanes(handle, source, UInt(jpeg.count), p.baseAddress, w, st.baseAddress, h, TJFLAG_STOPONWARNING)
                }
            }
            guard rc == 0 else { return rc }
            for (c, target) in planes.enumerated() {
                guard c < components, let base = pointers[c] else {
                    for row in 0..<target.height { target.row(row).update(repeating: 128, count: target.width) }
                    continue
                }
                let size = sizes[c]
                let (dx, dy) = (max(1, size.w / target.width), max(1, size.h / target.height))
                for row in 0..<target.height {
                    let from = base + min(row * dy, size.h - 1) * size.w
                    let out = target.row(row)
                    if dx == 1 {
                        out.update(from: from, count: min(target.width, size.w))
                    } else {
                        for col in 0..<target.width { out[col] = from[min(col * dx, size.w - 1)] }
                    }
                }
            }
            return 0
        }
        guard rc == 0 else { throw JPEGError("tjDecompressToYUVPlanes", handle: handle) }
    }
}

extension JPEGDecoder {
    /// Decodes only a JPEG's brightness, at the smallest of libjpeg-turbo's scales (1/8 to 1) that is still at least
    /// `minWidth` wide: a 720p camera JPEG becomes a 160x90 grey image for about an eighth of a full decode.
    public func decodeGrey(_ jpeg: UnsafeRawBufferPointer, minWidth: Int) throws -> (grey: [UInt8], width: Int, height: Int) {
        let info = try self.info(jpeg)
        var count: Int32 = 0
        var best = (num: Int32(1), denom: Int32(1))
        if let factors = tjGetScalingFactors(&count) {
            var bestWidth = info.width
            for f in UnsafeBufferPointer(start: factors, count: Int(count)) where f.num <= f.denom {
                let w = (info.width * Int(f.num) + Int(f.denom) - 1) / Int(f.denom)
                if w >= min(minWidth, info.width) && w < bestWidth { bestWidth = w; best = (f.num, f.denom) }
            }
        }
        let w = (info.width * Int(best.num) + Int(best.denom) - 1) / Int(best.denom)
        let h = (info.height * Int(best.num) + Int(best.denom) - 1) / Int(best.denom)
        var grey = [UInt8](repeating: 0, count: w * h)
        let rc = grey.withUnsafeMutableBufferPointer { out in
            tjDecompress2(handle, jpeg.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt(jpeg.count), out.baseAddress,
                          Int32(w), 0, Int32(h), Int32(TJPF_GRAY.rawValue), TJFLAG_FASTDCT)
        }
        guard rc == 0 else { throw JPEGError("tjDecompress2", handle: handle) }
        return (grey, w, h)
    }
}

/// Converts packed RGB to packed planar YUV 4:2:0 (I420) with libjpeg-turbo's converter.
public func rgbToYUV420(_ rgb: [UInt8], width: Int, height: Int) throws -> [UInt8] {
    guard let handle = tjInitCompress() else { throw JPEGError("tjInitCompress", handle: nil) }
    defer { tjDestroy(handle) }
    let cw = (width + 1) / 2, ch = (height + 1) / 2
    var out = [UInt8](repeating: 0, count: width * height + 2 * cw * ch)
    let rc = out.withUnsafeMutableBufferPointer { o -> Int32 in
        var planes: [UnsafeMutablePointer<UInt8>?] = [o.baseAddress, o.baseAddress! + width * height, o.baseAddress! + width * height + cw * ch]
        var strides: [Int32] = [Int32(width), Int32(cw), Int32(cw)]
        return planes.withUnsafeMutableBufferPointer { p in
            strides.withUnsafeMutableBufferPointer { s in
                tjEncodeYUVPlanes(handle, rgb, Int32(width), 0, Int32(height), Int32(TJPF_RGB.rawValue),
                                  p.baseAddress, s.baseAddress, Int32(TJSAMP_420.rawValue), 0)
            }
        }
    }
    guard rc == 0 else { throw JPEGError("tjEncodeYUVPlanes", handle: handle) }
    return out
}
