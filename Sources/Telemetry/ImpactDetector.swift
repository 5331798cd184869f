/// An impact: the largest change from gravity in one burst of readings over the threshold, in g, and when it was.
public struct Impact: Sendable, Equatable {
    /// Capture clock of the burst's peak.
    public var monotonicNanos: UInt64
    /// The peak's change from gravity, g.
    public var g: Double
}

/// Finds impacts in a stream of accelerometer readings. Gravity, and with it the angle the sensor is mounted at, is
/// learned from the readings themselves (no calibration by hand): first the average of the opening half second, then
/// a slow average (time constant 5 s) of the readings close to it, so that braking, turning or a slope moves it little
/// and a knock not at all. An impact is a burst whose change from gravity goes over `thresholdG`; it is reported once,
/// with its peak, when the burst has ended (or after `maxBurstNanos`).
public struct ImpactDetector: Sendable {
    /// The change from gravity that is an impact, g.
    public var thresholdG: Double
    /// Gravity as learned, m/s² in the sensor's axes (nil until the first half second is in).
    public private(set) var gravity: (x: Double, y: Double, z: Double)?
    private var learning: (sum: (Double, Double, Double), count: Int, since: UInt64)?
    private var lastNanos: UInt64?
    private var burst: Impact?
    private var burstStart: UInt64 = 0
    private var unsteadySince: UInt64?

    /// Readings over this long are averaged into the first estimate of gravity.
    static let learnNanos: UInt64 = 500_000_000
    /// The slow average's time constant.
    static let gravitySeconds = 5.0
    /// Only readings this close to gravity (g) move the slow average.
    static let steadyG = 0.3
    /// A burst longer than this is reported anyway.
    static let maxBurstNanos: UInt64 = 1_000_000_000
    /// Readings far from gravity for this long mean the sensor now sits at another angle.
    static let relearnNanos: UInt64 = 3_000_000_000

    /// A detector at `thresholdG`.
    public init(thresholdG: Double) {
        self.thresholdG = thresholdG
    }

    /// Whether gravity has been learned (impacts are found from then on).
    public var learned: Bool { gravity != nil }

    /// The change of `sample` from gravity, g (nil while gravity is being learned).
    public func change(_ sample: AccelSample) -> Double? {
        guard let g = gravity else { return nil }
        let dx = sample.x - g.x, dy = sample.y - g.y, dz = sample.z - g.z
        return (dx * dx + dy * dy + dz * dz).squareRoot() / AccelSample.standardGravity
    }

    /// Takes the next reading; returns an impact when a burst over the threshold has just ended.
    public mutating func feed(_ sample: AccelSample) -> Impact? {
        let t = sample.monotonicNanos
        defer { lastNanos = t }
        guard let g = gravity else {
            var l = learning ?? ((0, 0, 0), 0, t)
            l.sum = (l.sum.0 + sample.x, l.sum.1 + sample.y, l.sum.2 + sample.z)
            l.count += 1
            learning = l
            if t &- l.since >= Self.learnNanos {
                let n = Double(l.count)
                gravity = (l.sum.0 / n, l.sum.1 / n, l.sum.2 / n)
                learning = nil
            }
            return nil
        }
        let change = self.change(sample) ?? 0
        if change < Self.steadyG {
            unsteadySince = nil
            if let last = lastNanos {
                let k = min(1, Double(t &- last) / 1e9) / Self.gravitySeconds
                gravity = (g.x + (sample.x - g.x) * k, g.y + (sample.y - g.y) * k, g.z + (sample.z - g.z) * k)
            }
        } else if t &- (unsteadySince ?? t) >= Self.relearnNanos {
            // Far from gravity for seconds on end: the sensor was moved (a mount knocked loose); gravity is learned again.
            gravity = nil
            unsteadySince = nil
            burst = nil
            return nil
        } else if unsteadySince == nil {
            unsteadySince = t
        }
        if change > thresholdG {
            if burst == nil { burstStart = t }
            if change > burst?.g ?? 0 { burst = Impact(monotonicNanos: t, g: change) }
            guard t &- burstStart >= Self.maxBurstNanos else { return nil }
        }
        defer { burst = nil }
        return burst
    }
}
