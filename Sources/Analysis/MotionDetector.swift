/// The motion detector's decision logic on small grey images: a running-average background with a
/// per-pixel noise estimate, a changed-area threshold, a run of frames, light-switch suppression and
/// a cooldown. Single-threaded; `MotionAnalyser` feeds it from its own thread.
public final class MotionDetector {
    /// What one analysed frame showed.
    public struct Result: Sendable, Equatable {
        /// Share of the picture that changed (%).
        public var score: Double
        /// Whether motion is going on (after the run of frames and until the cooldown ends).
        public var active: Bool
        /// Whether this frame was taken as a change of light and the background reset.
        public var lightswitch: Bool
    }

    private let settings: MotionSettings
    private var background: [Float] = []
    private var deviation: [Float] = []
    /// 1 for each pixel analysed under the zones, 0 for the others.
    private var mask: [Float] = []
    private var analysed = 0
    private var run = 0
    private var active = false
    private var lastMotion: Double = -.infinity
    /// Analysed frames left before decisions: the background (and its noise) is learnt first, after a start or a change of light.
    private var warmup = 0
    /// A shift of the whole picture's mean luma by more than this is a change of light.
    static let lightJump: Float = 12
    /// Frames a fresh background learns for.
    static let warmupFrames = 20
    /// How fast the background follows the picture (per analysed frame).
    static let learnRate: Float = 0.05

    /// A detector with `settings`.
    public init(settings: MotionSettings) {
        self.settings = settings
    }

    /// Analyses one grey image `width` pixels wide taken at `seconds` (any monotonic clock).
    public func analyse(_ grey: [UInt8], width: Int, seconds: Double) -> Result {
        guard background.count == grey.count else {
            background = grey.map(Float.init)
            deviation = [Float](repeating: 2, count: grey.count)
            let zones = MotionZone.mask(settings.zones, width: width, height: grey.count / max(1, width))
            mask = zones?.map { $0 ? 1 : 0 } ?? [Float](repeating: 1, count: grey.count)
            analysed = zones.map { $0.lazy.filter { $0 }.count } ?? grey.count
            warmup = Self.warmupFrames
            return Result(score: 0, active: active, lightswitch: false)
        }
        // Everything excluded: nothing to see.
        guard analysed > 0 else { return Result(score: 0, active: false, lightswitch: false) }
        // A global brightness shift (a cloud, auto exposure) moves every pixel: take it out first.
        // Plain loops over buffers (no per-pixel checks or branches): this runs on every analysed frame, on a Pi's CPU.
        let floor = Float(settings.noise)
        let rate = Self.learnRate
        var shift: Float = 0
        var changed: Float = 0
        grey.withUnsafeBufferPointer { g in
            mask.withUnsafeBufferPointer { m in
                background.withUnsafeMutableBufferPointer { bg in
                    deviation.withUnsafeMutableBufferPointer { dev in
                        for i in 0..<g.count { shift += (Float(g[i]) - bg[i]) * m[i] }
                        shift /= Float(analysed)
                        for i in 0..<g.count {
                            let value = Float(g[i])
                            let diff = abs(value - bg[i] - shift)
                            changed += diff > max(floor, 3 * dev[i]) ? m[i] : 0
                            bg[i] += rate * (value - bg[i])
                            dev[i] += rate * (min(diff, 64) - dev[i])
                        }
                    }
                }
            }
        }
        let score = Double(changed) * 100 / Double(analysed)
        // Most of the picture changing at once with its brightness moved is light, not motion: start afresh.
        // (A global jump also leaves bright areas that could not brighten further, or dark ones that could not darken:
        // whatever changes in the frame where the whole picture jumps is put down to the light.)
        if score >= settings.lightswitchPercent || (abs(shift) > Self.lightJump && score >= settings.areaPercent) {
            background = grey.map(Float.init)
            run = 0
            warmup = Self.warmupFrames
            return Result(score: score, active: active && seconds - lastMotion < settings.cooldownSeconds, lightswitch: true)
        }
        if warmup > 0 {
            warmup -= 1
            return Result(score: score, active: active, lightswitch: false)
        }
        if score >= settings.areaPercent {
            run += 1
            if run >= settings.frames {
                active = true
                lastMotion = seconds
            }
        } else {
            run = 0
            if active && seconds - lastMotion >= settings.cooldownSeconds { active = false }
        }
        return Result(score: score, active: active, lightswitch: false)
    }
}
