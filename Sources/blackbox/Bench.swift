import ArgumentParser
import Cameras
import Capture
import Encoding
import FrameBus
import Frames
import Platform
import Foundation
import Rules

/// `blackbox bench`: the whole encode pipeline against a bare libjpeg-turbo encode of the same planes.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the encode pipeline on a real photograph.",
        discussion: """
            For each size, the photograph is scaled (centre-cropped to the aspect ratio) and converted to \
            YUV 4:2:0 once. Then, in one run: CPU time per frame of a bare TurboJPEG encode of those planes; \
            CPU time per frame of the whole pipeline (frame copy into a pooled buffer, timestamp overlay, \
            encode, ordered delivery, frame bus, one every-frame subscriber) and the ratio of the two; frames \
            per second with 1 and with N encoder threads; and the peak resident memory. Build with \
            'swift build -c release' for figures that mean something.
            """
    )

    @Option(help: "A JPEG photograph to encode (synthetic pictures compress 2-3x faster and flatter the encoder).")
    var image = "bench/fixtures/path_1920x1080.jpg"

    @Option(help: ArgumentHelp("Comma-separated sizes to measure.", valueName: "WxH,..."))
    var sizes = "1280x720,1920x1080"

    @Option(help: "Frames per measurement.")
    var frames = 300

    @Option(help: "JPEG quality, 1-100.")
    var quality = 80

    @Option(help: "Turn every picture by 0 or 180 degrees in the pipeline, as for a camera mounted upside down.")
    var rotation = 0

    @Option(help: "Encoder threads for the multi-threaded run (default: the number of cores, at most 4).")
    var workers: Int?

    @Option(help: ArgumentHelp("Compare the recording codecs on real footage instead: a YUV4MPEG2 file (ffmpeg -pix_fmt yuv420p -f yuv4mpegpipe).", valueName: "path"))
    var y4m: String?

    @Option(help: ArgumentHelp("Folder for the two recordings --y4m writes.", valueName: "dir"))
    var output = "bench-output"

    @Option(help: "Seconds of the --y4m clip encoded again as a camera gives frames (at its rate, out of the caches); 0: not.")
    var pacedSeconds = 8.0

    @Option(help: "x264 preset for --y4m.")
    var preset = "ultrafast"

    @Flag(help: "With --y4m: only encode the clip as a camera gives frames, for --paced-seconds (bench/daemon.py runs this beside the daemon, so both meet the machine in the same seconds).")
    var pacedOnly = false

    func validate() throws {
        guard (10...100_000).contains(frames) else { throw ValidationError("--frames \(frames) is out of range; allowed: 10 to 100000") }
        if let problem = CameraConfig.qualityRule.problem(quality, name: "--quality") { throw ValidationError(problem) }
        guard (0...600).contains(pacedSeconds) else { throw ValidationError("--paced-seconds \(pacedSeconds) is out of range; allowed: 0-600") }
        if pacedOnly && (y4m == nil || pacedSeconds == 0) { throw ValidationError("--paced-only needs --y4m and --paced-seconds above 0") }
        if let workers, let problem = CameraConfig.workersRule.problem(workers, name: "--workers") { throw ValidationError(problem) }
        do { try Orientation.checkRotation(rotation, name: "--rotation") } catch { throw ValidationError(error.description) }
        _ = try parsedSizes()
    }

    private func parsedSizes() throws -> [FrameGeometry] {
        try sizes.split(separator: ",").map { (text: Substring) in
            do {
                return try CameraConfig.parseGeometry(text, base: FrameGeometry(width: 0, height: 0, fps: 30), context: "--sizes")
            } catch let error as ConfigError {
                throw ValidationError(error.description)
            }
        }
    }

    func run() throws {
        if let y4m {
            return try CodecBench.run(path: y4m, output: output, quality: quality, preset: preset, pacedSeconds: pacedSeconds, pacedOnly: pacedOnly)
        }
        guard let data = FileManager.default.contents(atPath: image) else {
            throw StartupError("cannot read image '\(image)'; give --image PATH to a JPEG photograph")
        }
        let decoded = try data.withUnsafeBytes { try JPEGDecoder().decodeRGB($0) }
        let n = workers ?? EncoderPool.defaultWorkers
        print("blackbox bench: \(image) (\(decoded.info.width)x\(decoded.info.height)), quality \(quality), 4:2:0, overlay on, rotation \(rotation), "
              + "\(frames) frames per run, \(ProcessInfo.processInfo.activeProcessorCount) cores, N = \(n) workers")
        print(pad("size", 11) + pad("bare encode", 16) + pad("pipeline (1 worker)", 22) + pad("ratio", 8)
              + pad("fps 1 worker", 14) + "fps \(n) workers")
        for size in try parsedSizes() {
            let rgb = scaleRGB(decoded.rgb, from: (decoded.info.width, decoded.info.height), to: (size.width, size.height))
            let yuv = try rgbToYUV420(rgb, width: size.width, height: size.height)
            let bare = try bareEncode(yuv, size: size)
            let one = try pipeline(yuv, size: size, workers: 1)
            let many = try pipeline(yuv, size: size, workers: n)
            let ratio = one.cpuPerFrame / bare
            print(pad("\(size.width)x\(size.height)", 11) + pad(ms(bare), 16) + pad(ms(one.cpuPerFrame), 22)
                  + pad(String(format: "%.3f", ratio), 8) + pad(String(format: "%.1f", one.fps), 14) + String(format: "%.1f", many.fps))
        }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        print(String(format: "peak RSS %.1f MB", Double(usage.ru_maxrss) / 1024))
    }

    /// CPU seconds per frame of tjCompressFromYUVPlanes alone, on this thread.
    private func bareEncode(_ yuv: [UInt8], size: FrameGeometry) throws -> Double {
        let pool = BufferPool(count: 1, bytesPerBuffer: yuv.count)
        let buffer = pool.acquire()!
        yuv.withUnsafeBytes { buffer.bytes.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        let frame = RawFrame(format: .yuv420, width: size.width, height: size.height,
                             planes: buffer.planes(format: .yuv420, width: size.width, height: size.height),
                             sequence: 0, time: .now(), storage: buffer)
        let encoder = try JPEGEncoder()
        var bytes = 0
        for _ in 0..<10 { bytes &+= try encoder.encode(frame, quality: quality) { $0.count } }  // warm-up
        let start = threadCPUSeconds()
        for _ in 0..<frames { bytes &+= try encoder.encode(frame, quality: quality) { $0.count } }
        let cpu = threadCPUSeconds() - start
        buffer.release()
        precondition(bytes > 0)
        return cpu / Double(frames)
    }

    /// Runs the real pipeline losslessly over `frames` copies of the picture.
    private func pipeline(_ yuv: [UInt8], size: FrameGeometry, workers: Int) throws -> (cpuPerFrame: Double, fps: Double) {
        var config = CameraConfig(id: "bench", geometry: size, quality: quality, overlay: true, workers: workers)
        config.orientation = Orientation(rotation: rotation)
        let source = StillImageSource(yuv420: yuv, geometry: size, frameCount: frames, poolSize: workers * 2 + 4)
        let camera = try Camera(config: config, source: source)
        let subscription = camera.bus.subscribe(capacity: 64)
        // Without a recorder a camera makes JPEGs for viewers only: this subscriber wants every one.
        camera.jpegDemand.always = true
        let consumer = DedicatedThread(name: "bench-sub") {
            var n = 0
            while subscription.next() != nil { n += 1 }
            precondition(n > 0)
        }
        let cpu0 = processCPUSeconds(), wall0 = MonotonicClock.nanos()
        try camera.start(lossless: true)
        source.waitUntilDone()
        camera.stop()
        consumer.join()
        let cpu = processCPUSeconds() - cpu0
        let wall = Double(MonotonicClock.nanos() - wall0) / 1e9
        let encoded = Int(camera.encoder.stats.encoded.load(ordering: .relaxed))
        guard encoded == frames else { throw StartupError("pipeline encoded \(encoded) of \(frames) frames") }
        return (cpu / Double(frames), Double(frames) / wall)
    }

    private func ms(_ seconds: Double) -> String { String(format: "%.3f ms", seconds * 1000) }
    private func pad(_ s: String, _ width: Int) -> String { s.padding(toLength: max(width, s.count + 1), withPad: " ", startingAt: 0) }
}

func threadCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func processCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Centre-crops packed RGB to the target aspect ratio and scales it bilinearly (done once, before timing).
func scaleRGB(_ rgb: [UInt8], from src: (w: Int, h: Int), to dst: (w: Int, h: Int)) -> [UInt8] {
    var cropW = Double(src.w), cropH = Double(src.h)
    if cropW / cropH > Double(dst.w) / Double(dst.h) { cropW = cropH * Double(dst.w) / Double(dst.h) } else { cropH = cropW * Double(dst.h) / Double(dst.w) }
    let x0 = (Double(src.w) - cropW) / 2, y0 = (Double(src.h) - cropH) / 2
    var out = [UInt8](repeating: 0, count: dst.w * dst.h * 3)
    rgb.withUnsafeBufferPointer { s in
        out.withUnsafeMutableBufferPointer { o in
            for y in 0..<dst.h {
                let sy = min(Double(src.h - 1), max(0, y0 + (Double(y) + 0.5) * cropH / Double(dst.h) - 0.5))
                let yA = Int(sy), yB = min(src.h - 1, yA + 1), fy = sy - Double(yA)
                for x in 0..<dst.w {
                    let sx = min(Double(src.w - 1), max(0, x0 + (Double(x) + 0.5) * cropW / Double(dst.w) - 0.5))
                    let xA = Int(sx), xB = min(src.w - 1, xA + 1), fx = sx - Double(xA)
                    for c in 0..<3 {
                        let a = Double(s[(yA * src.w + xA) * 3 + c]), b = Double(s[(yA * src.w + xB) * 3 + c])
                        let d = Double(s[(yB * src.w + xA) * 3 + c]), e = Double(s[(yB * src.w + xB) * 3 + c])
                        let v = (a * (1 - fx) + b * fx) * (1 - fy) + (d * (1 - fx) + e * fx) * fy
                        o[(y * dst.w + x) * 3 + c] = UInt8(max(0, min(255, v.rounded())))
                    }
                }
            }
        }
    }
    return out
}
