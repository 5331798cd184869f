import Analysis
import Encoding
import Frames
import Synchronization
import Testing

@Suite("Motion detector")
struct MotionTests {
    /// A 160x120 grey scene (a gradient) with uniform noise of ±`noise`, and a dark 12x24 block at `block` when given.
    func scene(noise: Int, seed: inout UInt64, brighter: Int = 0, block: (x: Int, y: Int)? = nil) -> [UInt8] {
        (0..<(160 * 120)).map { i in
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            let n = Int(seed >> 33) % (2 * noise + 1) - noise
            let x = i % 160, y = i / 160
            var v = 60 + x / 2 + n + brighter
            if let b = block, (b.x..<b.x + 12).contains(x), (b.y..<b.y + 24).contains(y) { v = 10 + n }
            return UInt8(max(0, min(255, v)))
        }
    }

    @Test("a still scene with sensor noise is never motion; a walker crossing it is, and the motion ends after the cooldown")
    func noiseAndWalker() {
        var seed: UInt64 = 1
        let detector = MotionDetector(settings: MotionSettings())
        var t = 0.0
        for _ in 0..<300 {
            #expect(!detector.analyse(scene(noise: 8, seed: &seed), width: 160, seconds: t).active)
            t += 0.2
        }
        var started = false
        for step in 0..<30 {
            started = detector.analyse(scene(noise: 8, seed: &seed, block: (10 + step * 4, 50)), width: 160, seconds: t).active || started
            t += 0.2
        }
        #expect(started)
        var still = true
        for _ in 0..<40 {
            still = detector.analyse(scene(noise: 8, seed: &seed), width: 160, seconds: t).active
            t += 0.2
        }
        #expect(!still, "motion did not end after the cooldown")
    }

    @Test("the whole picture turning much brighter at once (its bright half clipping) is light, not motion")
    func lightswitch() {
        var seed: UInt64 = 2
        let detector = MotionDetector(settings: MotionSettings())
        var t = 0.0
        var lights = 0
        for i in 0..<200 {
            let r = detector.analyse(scene(noise: 6, seed: &seed, brighter: i >= 100 ? 150 : 0), width: 160, seconds: t)
            #expect(!r.active, "frame \(i)")
            if r.lightswitch { lights += 1 }
            t += 0.2
        }
        #expect(lights >= 1)
    }

    @Test("settings out of range are refused, naming what is allowed")
    func validation() {
        var s = MotionSettings()
        s.noise = 0
        #expect(throws: MotionError.self) { try s.validate() }
        s = MotionSettings()
        s.lightswitchPercent = s.areaPercent
        do {
            try s.validate()
            Issue.record("accepted")
        } catch {
            #expect(error.description.contains("allowed: above the area"))
        }
    }

    /// Runs a walker across the scene at row 50 through a detector with `zones`; whether motion was seen.
    func walkerSeen(zones: [MotionZone]) -> Bool {
        var settings = MotionSettings()
        settings.zones = zones
        let detector = MotionDetector(settings: settings)
        var seed: UInt64 = 3
        var t = 0.0, seen = false
        for _ in 0..<40 {
            seen = detector.analyse(scene(noise: 8, seed: &seed), width: 160, seconds: t).active || seen
            t += 0.2
        }
        for step in 0..<30 {
            seen = detector.analyse(scene(noise: 8, seed: &seed, block: (10 + step * 4, 50)), width: 160, seconds: t).active || seen
            t += 0.2
        }
        return seen
    }

    @Test("an exclude zone over the walker's path hides it; an include zone elsewhere too; an include zone over it does not")
    func zones() {
        #expect(walkerSeen(zones: []))
        // The walker crosses rows 50–74 of 120 (y 0.42–0.62).
        #expect(!walkerSeen(zones: [MotionZone(kind: .exclude, x: 0, y: 0.35, width: 1, height: 0.35)]))
        #expect(!walkerSeen(zones: [MotionZone(kind: .include, x: 0, y: 0, width: 1, height: 0.3)]))
        #expect(walkerSeen(zones: [MotionZone(kind: .include, points: [.init(x: 0, y: 0.3), .init(x: 1, y: 0.3), .init(x: 0.5, y: 0.9)])]))
    }

    @Test("zone masks follow the polygon; zones outside the picture or with too few corners are refused")
    func zoneMask() throws {
        let triangle = MotionZone(kind: .include, points: [.init(x: 0, y: 0), .init(x: 1, y: 0), .init(x: 0, y: 1)])
        let mask = try #require(MotionZone.mask([triangle], width: 10, height: 10))
        // 45 pixel centres lie inside, 10 exactly on the diagonal edge.
        #expect(mask[0] && !mask[99] && (45...55).contains(mask.filter { $0 }.count))
        #expect(MotionZone.mask([], width: 10, height: 10) == nil)
        var s = MotionSettings()
        s.zones = [MotionZone(kind: .exclude, points: [.init(x: 0, y: 0), .init(x: 1.5, y: 0), .init(x: 0, y: 1)])]
        #expect(throws: MotionError.self) { try s.validate() }
        s.zones = [MotionZone(kind: .exclude, points: [.init(x: 0, y: 0), .init(x: 1, y: 0)])]
        #expect(throws: MotionError.self) { try s.validate() }
    }

    @Test("a camera JPEG is decoded to grey at the smallest scale at least 160 px wide")
    func jpegGrey() throws {
        let (frame, pool) = uniformFrame(.yuv420, width: 1280, height: 720)
        defer { frame.storage.release(); _ = pool }
        let jpeg = try JPEGEncoder().encode(frame, quality: 80) { Array($0) }
        let grey = try jpeg.withUnsafeBytes { try JPEGDecoder().decodeGrey($0, minWidth: 160) }
        #expect(grey.width == 160 && grey.height == 90 && grey.grey.count == 160 * 90)
        #expect(grey.grey.allSatisfy { abs(Int($0) - 128) <= 3 })
    }

    @Test("camera JPEGs (MJPEG pass-through) are analysed: a dark block moving across a noisy grey picture is motion")
    func jpegFramesAreAnalysed() async throws {
        final class Owned: FrameStorage, @unchecked Sendable { func release() {} }
        let seen = Atomic<Int>(0)
        var settings = MotionSettings()
        settings.every = 1
        let analyser = MotionAnalyser(camera: "jpeg", settings: settings) { active in if active { seen.add(1, ordering: .relaxed) } }
        defer { analyser.stop() }
        let encoder = try JPEGEncoder()
        var seed: UInt64 = 5
        for i in 0..<80 {
            let (frame, pool) = uniformFrame(.yuv420, width: 640, height: 360, luma: 120)
            let luma = frame.planes[0]
            for row in 0..<luma.height {
                for col in 0..<luma.width {
                    seed = seed &* 6364136223846793005 &+ 1442695040888963407
                    let moving = i >= 40 && (150..<220).contains(row) && ((i - 40) * 12..<(i - 40) * 12 + 50).contains(col)
                    luma.row(row)[col] = moving ? 20 : UInt8(115 + Int(seed >> 60))
                }
            }
            var jpeg = try encoder.encode(frame, quality: 80) { Array($0) }
            frame.storage.release()
            _ = pool
            jpeg.withUnsafeMutableBufferPointer { bytes in
                let plane = Plane(base: bytes.baseAddress!, stride: bytes.count, width: bytes.count, height: 1)
                let time = CaptureTime(monotonicNanos: UInt64(i) * 100_000_000, wallSeconds: i / 10, wallNanos: (i % 10) * 100_000_000)
                analyser.submit(RawFrame(format: .jpeg, width: 640, height: 360, planes: [plane], sequence: UInt64(i), time: time, storage: Owned()))
            }
            // The analyser copies what it keeps; give its thread time so that no frame is dropped.
            while analyser.status().analysed + analyser.status().dropped < UInt64(i + 1) { try await Task.sleep(for: .milliseconds(1)) }
        }
        let status = analyser.status()
        #expect(status.undecodable == 0 && status.dropped == 0 && status.analysed == 80)
        #expect(status.events == 1 && seen.load(ordering: .relaxed) >= 1, "\(status)")
    }
}
