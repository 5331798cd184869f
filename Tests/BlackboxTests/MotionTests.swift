import Analysis
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
            #expect(!detector.analyse(scene(noise: 8, seed: &seed), seconds: t).active)
            t += 0.2
        }
        var started = false
        for step in 0..<30 {
            started = detector.analyse(scene(noise: 8, seed: &seed, block: (10 + step * 4, 50)), seconds: t).active || started
            t += 0.2
        }
        #expect(started)
        var still = true
        for _ in 0..<40 {
            still = detector.analyse(scene(noise: 8, seed: &seed), seconds: t).active
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
            let r = detector.analyse(scene(noise: 6, seed: &seed, brighter: i >= 100 ? 150 : 0), seconds: t)
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
}
