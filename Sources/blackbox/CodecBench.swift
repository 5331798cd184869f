import Encoding
import Foundation
import Frames
import Recording

/// Reads planar 4:2:0 frames from a YUV4MPEG2 file (what `ffmpeg -f yuv4mpegpipe` writes), one at a time.
struct Y4MReader {
    let width: Int
    let height: Int
    let fps: Int
    private let handle: FileHandle

    /// Opens `path` and reads its header; only 4:2:0 is accepted.
    init(path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw StartupError("cannot read '\(path)'") }
        self.handle = handle
        var header = ""
        while let byte = try handle.read(upToCount: 1)?.first, byte != 0x0A { header.append(Character(UnicodeScalar(byte))) }
        let fields = header.split(separator: " ")
        guard fields.first == "YUV4MPEG2" else { throw StartupError("'\(path)' is not a YUV4MPEG2 file (make one with ffmpeg -f yuv4mpegpipe)") }
        var (w, h, rate) = (0, 0, 30)
        for f in fields.dropFirst() {
            switch f.first {
            case "W": w = Int(f.dropFirst()) ?? 0
            case "H": h = Int(f.dropFirst()) ?? 0
            case "F":
                let parts = f.dropFirst().split(separator: ":").compactMap { Double($0) }
                if parts.count == 2, parts[1] > 0 { rate = max(1, Int((parts[0] / parts[1]).rounded())) }
            case "C":
                guard f.hasPrefix("C420") else { throw StartupError("'\(path)' is \(f.dropFirst()); only 4:2:0 is read (ffmpeg -pix_fmt yuv420p)") }
            default: break
            }
        }
        guard w > 0, h > 0, w % 2 == 0, h % 2 == 0 else { throw StartupError("'\(path)': no usable size in its header") }
        (width, height, fps) = (w, h, rate)
    }

    /// The next frame's bytes (Y, then U, then V), or nil at the end.
    func next() throws -> [UInt8]? {
        guard let line = try handle.read(upToCount: 6), line.count == 6 else { return nil }  // "FRAME\n" (no parameters from ffmpeg)
        let size = width * height * 3 / 2
        guard let data = try handle.read(upToCount: size), data.count == size else { return nil }
        return [UInt8](data)
    }
}

/// `blackbox bench --y4m`: the two recording codecs on the same real frames, in one run.
enum CodecBench {
    /// Encodes every frame of `path` with libjpeg-turbo and with x264, writes both as the recorder
    /// would (into `output`), and prints CPU per frame, bytes per frame and per hour.
    static func run(path: String, output: String, quality: Int, preset: String) throws {
        let reader = try Y4MReader(path: path)
        let (w, h, fps) = (reader.width, reader.height, reader.fps)
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let jpeg = try JPEGEncoder()
        var settings = H264Settings()
        settings.preset = preset
        settings.threads = 1  // CPU per frame of one core, comparable with one JPEG encode
        let x264 = try H264Encoder(width: w, height: h, fps: fps, keyframeInterval: fps * 2, settings: settings)
        var mjpegFile: MP4File?, h264File: MP4File?
        var (jpegCPU, x264CPU, jpegBytes, h264Bytes, count) = (0.0, 0.0, 0, 0, 0)
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: w * h * 3 / 2)
        defer { buffer.deallocate() }
        let planes = [Plane(base: buffer, stride: w, width: w, height: h),
                      Plane(base: buffer + w * h, stride: w / 2, width: w / 2, height: h / 2),
                      Plane(base: buffer + w * h * 5 / 4, stride: w / 2, width: w / 2, height: h / 2)]
        final class NoStorage: FrameStorage, @unchecked Sendable { func release() {} }
        while let bytes = try reader.next() {
            bytes.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress!, count: bytes.count) }
            let mono = 1_000_000_000 + UInt64(count) * 1_000_000_000 / UInt64(fps)
            let time = CaptureTime(monotonicNanos: mono, wallSeconds: 1_764_000_000 + count / fps, wallNanos: 0)
            let raw = RawFrame(format: .yuv420, width: w, height: h, planes: planes, sequence: UInt64(count), time: time, storage: NoStorage())
            var t = threadCPUSeconds()
            let jpegFrame = try jpeg.encode(raw, quality: quality) { EncodedFrame(jpeg: $0, sequence: UInt64(count), time: time, width: w, height: h, encodeNanos: 0) }
            jpegCPU += threadCPUSeconds() - t
            t = threadCPUSeconds()
            // An IDR picture every second, as the recorder's fragments ask for.
            guard let unit = try x264.encode(planes, pts: Int64(count), keyframe: count % fps == 0) else { continue }
            x264CPU += threadCPUSeconds() - t
            let h264Frame = EncodedFrame(codec: .h264, isKeyframe: unit.isKeyframe, bytes: .init(bytes: unit.bytes), sequence: UInt64(count),
                                         time: time, width: w, height: h, encodeNanos: 0, parameterSets: x264.parameterSets)
            if mjpegFile == nil {
                mjpegFile = try MP4File(path: "\(output)/bench-mjpeg.mp4", first: jpegFrame, fragmentNanos: 1_000_000_000, sync: .never, nominalFps: fps)
                h264File = try MP4File(path: "\(output)/bench-h264.mp4", first: h264Frame, codec: .h264(x264.parameterSets),
                                       fragmentNanos: 1_000_000_000, sync: .never, nominalFps: fps)
            }
            try mjpegFile?.append(jpegFrame)
            try h264File?.append(h264Frame)
            jpegBytes += jpegFrame.bytes.readableBytes
            h264Bytes += unit.bytes.count
            count += 1
        }
        guard count > 0 else { throw StartupError("'\(path)' holds no frame") }
        let files = try [mjpegFile?.finish(), h264File?.finish()].compactMap { $0 }
        let n = Double(count)
        func perHour(_ bytes: Int) -> String { String(format: "%.2f GB/h", Double(bytes) / n * Double(fps) * 3600 / 1e9) }
        print("blackbox bench --y4m \(path): \(count) frames \(w)x\(h)@\(fps), JPEG q\(quality) 4:2:0, x264 \(preset) CRF 23 zerolatency, one thread each")
        print(String(format: "mjpeg  %.3f ms CPU/frame  %7.1f KiB/frame  %@", jpegCPU / n * 1000, Double(jpegBytes) / n / 1024, perHour(jpegBytes)))
        print(String(format: "h264   %.3f ms CPU/frame  %7.1f KiB/frame  %@", x264CPU / n * 1000, Double(h264Bytes) / n / 1024, perHour(h264Bytes)))
        print(String(format: "h264 / mjpeg: CPU %.2fx, bytes %.3fx", x264CPU / jpegCPU, Double(h264Bytes) / Double(jpegBytes)))
        print("written: \(files.joined(separator: ", ")) (compare with the source: bench/codecs.sh prints SSIM)")
    }
}
