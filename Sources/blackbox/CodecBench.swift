import Analysis
import Cameras
import Capture
import Encoding
import Evidence
import Foundation
import Logging
import Frames
import Recording

/// `blackbox bench --y4m`: the two recording codecs on the same real frames, in one run.
enum CodecBench {
    /// Encodes every frame of `path` with libjpeg-turbo and with x264, writes both as the recorder
    /// would (into `output`), and prints CPU per frame, bytes per frame and per hour; with `pacedOnly`, only the encoders
    /// as a camera gives frames.
    static func run(path: String, output: String, quality: Int, preset: String, pacedSeconds: Double, pacedOnly: Bool = false) throws {
        let reader: Y4MFile
        do {
            reader = try Y4MFile(path: path)
        } catch {
            throw StartupError(error.description)
        }
        let (w, h, fps) = (reader.width, reader.height, reader.fps)
        var settings = H264Settings()
        settings.preset = preset
        settings.threads = 1  // CPU per frame of one core, comparable with one JPEG encode
        if pacedOnly {
            if let paced = try asACameraGivesThem(path: path, width: w, height: h, fps: fps, quality: quality, settings: settings, seconds: pacedSeconds) {
                print(pacedLine(paced, fps: fps))
            }
            return
        }
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let jpeg = try JPEGEncoder()
        let x264 = try H264Encoder(width: w, height: h, fps: fps, keyframeInterval: fps * 2, settings: settings)
        var mjpegFile: MP4File?, h264File: MP4File?
        // The motion detector as the daemon runs it, on every frame here (the daemon analyses every 2nd).
        let motion = MotionDetector(settings: MotionSettings())
        var (motionCPU, motionActive) = (0.0, 0)
        // A camera that sends JPEG is analysed from it: its brightness decoded at a reduced scale.
        let greyDecoder = try JPEGDecoder()
        var (jpegGreyCPU, jpegGreyWidth) = (0.0, 0)
        var (jpegCPU, x264CPU, jpegBytes, h264Bytes, count) = (0.0, 0.0, 0, 0, 0)
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: w * h * 3 / 2)
        defer { buffer.deallocate() }
        let planes = [Plane(base: buffer, stride: w, width: w, height: h),
                      Plane(base: buffer + w * h, stride: w / 2, width: w / 2, height: h / 2),
                      Plane(base: buffer + w * h * 5 / 4, stride: w / 2, width: w / 2, height: h / 2)]
        final class NoStorage: FrameStorage, @unchecked Sendable { func release() {} }
        while let bytes = reader.next() {
            bytes.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress!, count: bytes.count) }
            let mono = 1_000_000_000 + UInt64(count) * 1_000_000_000 / UInt64(fps)
            let time = CaptureTime(monotonicNanos: mono, wallSeconds: 1_764_000_000 + count / fps, wallNanos: 0)
            let raw = RawFrame(format: .yuv420, width: w, height: h, planes: planes, sequence: UInt64(count), time: time, storage: NoStorage())
            var t = threadCPUSeconds()
            if motion.analyse(MotionAnalyser.grey(planes[0], width: MotionSettings().width), width: min(MotionSettings().width, planes[0].width), seconds: Double(mono) / 1e9).active { motionActive += 1 }
            motionCPU += threadCPUSeconds() - t
            t = threadCPUSeconds()
            let jpegFrame = try jpeg.encode(raw, quality: quality) { EncodedFrame(jpeg: $0, sequence: UInt64(count), time: time, width: w, height: h, encodeNanos: 0) }
            jpegCPU += threadCPUSeconds() - t
            t = threadCPUSeconds()
            let decoded = try jpegFrame.bytes.withUnsafeReadableBytes { try greyDecoder.decodeGrey($0, minWidth: MotionSettings().width) }
            jpegGreyWidth = decoded.width
            jpegGreyCPU += threadCPUSeconds() - t
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
        // The loop above reads each frame into the buffer just before encoding it, back to back: the encoder's best
        // case, which no camera gives it. A second pass, apart so that neither evicts the other's encoder state:
        let paced = try asACameraGivesThem(path: path, width: w, height: h, fps: fps, quality: quality, settings: settings, seconds: pacedSeconds)
        let files = try [mjpegFile?.finish(), h264File?.finish()].compactMap { $0 }
        let n = Double(count)
        func perHour(_ bytes: Int) -> String { String(format: "%.2f GB/h", Double(bytes) / n * Double(fps) * 3600 / 1e9) }
        print("blackbox bench --y4m \(path): \(count) frames \(w)x\(h)@\(fps), JPEG q\(quality) 4:2:0, x264 \(preset) CRF 23 zerolatency, one thread each")
        print(String(format: "mjpeg  %.3f ms CPU/frame  %7.1f KiB/frame  %@", jpegCPU / n * 1000, Double(jpegBytes) / n / 1024, perHour(jpegBytes)))
        print(String(format: "h264   %.3f ms CPU/frame  %7.1f KiB/frame  %@", x264CPU / n * 1000, Double(h264Bytes) / n / 1024, perHour(h264Bytes)))
        print(String(format: "h264 / mjpeg: CPU %.2fx, bytes %.3fx", x264CPU / jpegCPU, Double(h264Bytes) / Double(jpegBytes)))
        if let paced { print(pacedLine(paced, fps: fps)) }
        print("written: \(files.joined(separator: ", ")) (compare with the source: bench/codecs.sh prints SSIM)")
        print(String(format: "motion detector  %.3f ms CPU/analysed frame (%d px wide grey, scaling included), motion in %d of %d frames",
                     motionCPU / n * 1000, MotionSettings().width, motionActive, count))
        print(String(format: "motion from JPEG %.3f ms CPU/analysed frame more (grey decode at %d px wide, before scaling to %d)",
                     jpegGreyCPU / n * 1000, jpegGreyWidth, MotionSettings().width))
        // Signing: every fragment (1 s here) hashed and its chain value signed, as the recorder does.
        for (name, file, encodeCPU) in [("mjpeg", files[0], jpegCPU), ("h264", files[1], x264CPU)] {
            let cost = try SigningBench.measure(path: file)
            let perFrame = cost.cpuPerFragment / Double(fps)
            print(String(format: "%@ signing  %.3f ms CPU/fragment of %d KiB (%.4f ms/frame, %.3f%% of the encode), %d bytes/fragment = %.2f MB/h",
                         name.padding(toLength: 5, withPad: " ", startingAt: 0), cost.cpuPerFragment * 1000, cost.mediaBytesPerFragment / 1024,
                         perFrame * 1000, perFrame / (encodeCPU / n) * 100, cost.bytesPerFragment, Double(cost.bytesPerFragment) * 3600 / 1e6))
        }
        // The whole recording pipeline of the daemon on the same frames: a file camera at the clip's
        // rate, overlay, encode, bus, recorder and MP4 writes, nobody watching (no JPEG for H.264).
        for codec in [VideoCodec.mjpeg, .h264] {
            let cpu = try pipelineCPUPerFrame(path: path, codec: codec, output: output, frames: count, fps: fps)
            let bare = codec == .h264 ? x264CPU / n : jpegCPU / n
            let fromCache = String(format: "%@ recording pipeline  %.3f ms CPU/frame, %.2fx the bare encode",
                                   codec.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0), cpu * 1000, cpu / bare)
            let asACamera = paced.map { codec == .h264 ? $0.h264 : $0.mjpeg }
            print(fromCache + (asACamera.map { String(format: ", %.2fx the bare encode as a camera gives frames", cpu / $0) } ?? ""))
        }
    }

    /// The line that gives the encoders' CPU as a camera gives frames.
    private static func pacedLine(_ paced: (frames: Int, mjpeg: Double, h264: Double), fps: Int) -> String {
        String(format: "as a camera gives them (%d frames at %d fps, each %d MB of frames after it was read): mjpeg %.3f ms CPU/frame, h264 %.3f ms CPU/frame",
               paced.frames, fps, ringBytes >> 20, paced.mjpeg * 1000, paced.h264 * 1000)
    }

    /// Bytes of frames read between a frame's read and its encode in `asACameraGivesThem`: more than a server's last-level cache.
    private static let ringBytes = 48 << 20

    /// CPU per frame of each bare encoder as a camera drives it: one frame per frame interval (the caches cool while the
    /// encoder waits), each frame read `ringBytes` of frames before, so out of the CPU's caches, as a camera's frame
    /// arrives by DMA. Nil when `seconds` is 0.
    private static func asACameraGivesThem(path: String, width w: Int, height h: Int, fps: Int, quality: Int, settings: H264Settings,
                                           seconds: Double) throws -> (frames: Int, mjpeg: Double, h264: Double)? {
        let frames = Int(seconds * Double(fps))
        guard frames > 0 else { return nil }
        let jpeg = try JPEGEncoder()
        let x264 = try H264Encoder(width: w, height: h, fps: fps, keyframeInterval: fps * 2, settings: settings)
        let frameBytes = BufferPool.Buffer.byteCount(format: .yuv420, width: w, height: h)
        let pool = BufferPool(count: max(1, ringBytes / frameBytes) + 1, bytesPerBuffer: frameBytes)
        let ring = (0..<pool.capacity).compactMap { _ in pool.acquire() }
        defer { ring.forEach { $0.release() } }
        let file = try Y4MFile(path: path)
        var (jpegCPU, x264CPU, read, encoded, rewound) = (0.0, 0.0, 0, 0, false)
        while encoded < frames {
            let slot = ring[read % ring.count]
            guard file.read(into: UnsafeMutableRawBufferPointer(start: slot.bytes, count: slot.count)) else {
                // A short clip plays again until the ring has let its frames leave the cache.
                if rewound { throw StartupError("'\(path)' could not be read again") }
                file.rewind()
                rewound = true
                continue
            }
            (read, rewound) = (read + 1, false)
            guard read >= ring.count else { continue }
            let old = ring[read % ring.count]  // the oldest held: read ring.count - 1 frames ago
            Thread.sleep(forTimeInterval: 1 / Double(fps))
            let planes = old.planes(format: .yuv420, width: w, height: h)
            let time = CaptureTime(monotonicNanos: 1_000_000_000 + UInt64(encoded) * 1_000_000_000 / UInt64(fps), wallSeconds: 1_764_000_000, wallNanos: 0)
            var t = threadCPUSeconds()
            _ = try jpeg.encode(RawFrame(format: .yuv420, width: w, height: h, planes: planes, sequence: UInt64(encoded), time: time, storage: old),
                                quality: quality) { $0.count }
            jpegCPU += threadCPUSeconds() - t
            t = threadCPUSeconds()
            _ = try x264.encode(planes, pts: Int64(encoded), keyframe: encoded % fps == 0)
            x264CPU += threadCPUSeconds() - t
            encoded += 1
        }
        return (encoded, jpegCPU / Double(encoded), x264CPU / Double(encoded))
    }

    /// Process CPU seconds per recorded frame while a camera playing `path` records it in `codec`.
    private static func pipelineCPUPerFrame(path: String, codec: VideoCodec, output: String, frames: Int, fps: Int) throws -> Double {
        var recording = RecordingConfig()
        recording.root = "\(output)/pipeline-\(codec)"
        recording.codec = codec
        recording.quota = .percent(90)
        try FileManager.default.createDirectory(atPath: recording.root, withIntermediateDirectories: true)
        let retention = Retention(root: recording.root, quota: recording.quota, minFreeBytes: 0)
        // Signed, as the daemon records.
        let setup = RecordingSetup(config: recording, retention: retention, logger: Logger(label: "bench"), key: DeviceKey.generate())
        var config = CameraConfig(id: "bench", source: .file(path: path), workers: 1)
        config = config.withDeviceMode().config
        let camera = try Camera(config: config, recording: setup)
        try camera.start()
        defer { camera.stop() }
        // Let the pipeline settle, then count what it records over the clip's length (at most 20 s: it plays in real time).
        Thread.sleep(forTimeInterval: 1)
        let written0 = camera.recorder?.status().framesWritten ?? 0
        let cpu0 = processCPUSeconds()
        Thread.sleep(forTimeInterval: min(20, Double(frames) / Double(max(1, fps))))
        let written = (camera.recorder?.status().framesWritten ?? 0) - written0
        let cpu = processCPUSeconds() - cpu0
        guard written > 0 else { throw StartupError("the \(codec) pipeline recorded nothing") }
        return cpu / Double(written)
    }
}
