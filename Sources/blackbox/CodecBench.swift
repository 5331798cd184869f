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
    /// would (into `output`), and prints CPU per frame, bytes per frame and per hour.
    static func run(path: String, output: String, quality: Int, preset: String, pacedSeconds: Double) throws {
        let reader: Y4MFile
        do {
            reader = try Y4MFile(path: path)
        } catch {
            throw StartupError(error.description)
        }
        let (w, h, fps) = (reader.width, reader.height, reader.fps)
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let jpeg = try JPEGEncoder()
        var settings = H264Settings()
        settings.preset = preset
        settings.threads = 1  // CPU per frame of one core, comparable with one JPEG encode
        let x264 = try H264Encoder(width: w, height: h, fps: fps, keyframeInterval: fps * 2, settings: settings)
        // The same encoders again as a camera drives them: one frame per frame interval (the caches cool while the
        // encoder waits), each frame written long before (`FromMemory`), so no longer in the CPU's caches, as a camera's
        // frame arrives by DMA. The loop below reads each frame into the buffer just before encoding it, back to back:
        // the encoder's best case, which no camera gives it.
        let jpegCold = try JPEGEncoder()
        let x264Cold = try H264Encoder(width: w, height: h, fps: fps, keyframeInterval: fps * 2, settings: settings)
        let delayed = FromMemory(width: w, height: h)
        let pacedFrames = Int(pacedSeconds * Double(fps))
        var (jpegColdCPU, x264ColdCPU, coldCount) = (0.0, 0.0, 0)
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
        // A second pass, apart from the first so that neither evicts the other's encoder state from the caches.
        let second = try Y4MFile(path: path)
        while coldCount < pacedFrames {
            guard let bytes = second.next() else {
                second.rewind()  // a short clip plays again until the ring has let its frames leave the cache
                continue
            }
            bytes.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress!, count: bytes.count) }
            guard let old = delayed.swap(in: buffer) else { continue }
            Thread.sleep(forTimeInterval: 1 / Double(fps))
            let time = CaptureTime(monotonicNanos: 1_000_000_000 + UInt64(coldCount) * 1_000_000_000 / UInt64(fps), wallSeconds: 1_764_000_000, wallNanos: 0)
            let raw = RawFrame(format: .yuv420, width: w, height: h, planes: old, sequence: UInt64(coldCount), time: time, storage: NoStorage())
            var t = threadCPUSeconds()
            _ = try jpegCold.encode(raw, quality: quality) { $0.count }
            jpegColdCPU += threadCPUSeconds() - t
            t = threadCPUSeconds()
            _ = try x264Cold.encode(old, pts: Int64(coldCount), keyframe: coldCount % fps == 0)
            x264ColdCPU += threadCPUSeconds() - t
            coldCount += 1
        }
        guard count > 0 else { throw StartupError("'\(path)' holds no frame") }
        let files = try [mjpegFile?.finish(), h264File?.finish()].compactMap { $0 }
        let n = Double(count)
        func perHour(_ bytes: Int) -> String { String(format: "%.2f GB/h", Double(bytes) / n * Double(fps) * 3600 / 1e9) }
        print("blackbox bench --y4m \(path): \(count) frames \(w)x\(h)@\(fps), JPEG q\(quality) 4:2:0, x264 \(preset) CRF 23 zerolatency, one thread each")
        print(String(format: "mjpeg  %.3f ms CPU/frame  %7.1f KiB/frame  %@", jpegCPU / n * 1000, Double(jpegBytes) / n / 1024, perHour(jpegBytes)))
        print(String(format: "h264   %.3f ms CPU/frame  %7.1f KiB/frame  %@", x264CPU / n * 1000, Double(h264Bytes) / n / 1024, perHour(h264Bytes)))
        print(String(format: "h264 / mjpeg: CPU %.2fx, bytes %.3fx", x264CPU / jpegCPU, Double(h264Bytes) / Double(jpegBytes)))
        // nil: not measured (--paced-seconds 0).
        let fromMemory: [VideoCodec: Double]? = coldCount == 0 ? nil : [.mjpeg: jpegColdCPU / Double(coldCount), .h264: x264ColdCPU / Double(coldCount)]
        if let fromMemory {
            print(String(format: "as a camera gives them (%d frames at %d fps, each %d MB of frames after it was read): mjpeg %.3f ms CPU/frame, h264 %.3f ms CPU/frame",
                         coldCount, fps, FromMemory.bytes >> 20, fromMemory[.mjpeg]! * 1000, fromMemory[.h264]! * 1000))
        }
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
            print(fromCache + (fromMemory?[codec].map { String(format: ", %.2fx the bare encode as a camera gives frames", cpu / $0) } ?? ""))
        }
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

/// Frames held back in a ring of buffers larger than the CPU's last-level cache: a frame comes out after `bytes` of
/// later frames went in, from memory the caches have long since dropped.
private final class FromMemory {
    /// Bytes of frames written between a frame's read and its encode (more than a server's last-level cache).
    static let bytes = 48 << 20
    private let ring: [UnsafeMutablePointer<UInt8>]
    private let (width, height): (Int, Int)
    private var filled = 0

    init(width: Int, height: Int) {
        (self.width, self.height) = (width, height)
        let delay = max(1, Self.bytes / (width * height * 3 / 2))
        ring = (0...delay).map { _ in UnsafeMutablePointer<UInt8>.allocate(capacity: width * height * 3 / 2) }
    }

    deinit { for buffer in ring { buffer.deallocate() } }

    /// Puts a copy of the I420 frame at `frame` in, and gives the planes of the oldest one held (nil until the ring is full).
    func swap(in frame: UnsafeMutablePointer<UInt8>) -> [Plane]? {
        let slot = ring[filled % ring.count]
        slot.update(from: frame, count: width * height * 3 / 2)
        filled += 1
        guard filled >= ring.count else { return nil }
        let old = ring[filled % ring.count]
        return [Plane(base: old, stride: width, width: width, height: height),
                Plane(base: old + width * height, stride: width / 2, width: width / 2, height: height / 2),
                Plane(base: old + width * height * 5 / 4, stride: width / 2, width: width / 2, height: height / 2)]
    }
}
