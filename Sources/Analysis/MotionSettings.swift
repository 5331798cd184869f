/// How a camera's motion detector decides (defaults chosen on the street clip and a still scene with sensor noise).
public struct MotionSettings: Sendable, Equatable {
    /// Whether motion is analysed at all.
    public var enabled = true
    /// Width of the grey image analysed, pixels (the height follows the picture's shape).
    public var width = 160
    /// Analyse every Nth frame.
    public var every = 2
    /// Least luma difference (0–255) from the background that counts as a change; noisier pixels need more.
    public var noise = 16
    /// Share of the picture (%) that must change for a frame to count as motion.
    public var areaPercent = 0.6
    /// Analysed frames in a row over the threshold before motion starts.
    public var frames = 2
    /// A change over this share (%) of the picture at once, with the whole picture brighter or darker, is light, not motion.
    public var lightswitchPercent = 40.0
    /// Seconds without motion before a motion event ends.
    public var cooldownSeconds = 5.0
    /// Include and exclude zones (none: the whole picture).
    public var zones: [MotionZone] = []

    /// The defaults.
    public init() {}

    /// Throws a message naming the first setting out of range and what is allowed.
    public func validate() throws(MotionError) {
        guard (32...640).contains(width) else { throw MotionError("motion width \(width) is out of range; allowed: 32 to 640 pixels") }
        guard (1...30).contains(every) else { throw MotionError("motion every \(every) is out of range; allowed: 1 to 30 frames") }
        guard (1...255).contains(noise) else { throw MotionError("motion noise \(noise) is out of range; allowed: 1 to 255") }
        guard areaPercent > 0, areaPercent <= 100 else { throw MotionError("motion area \(areaPercent) % is out of range; allowed: above 0 up to 100") }
        guard (1...100).contains(frames) else { throw MotionError("motion frames \(frames) is out of range; allowed: 1 to 100") }
        guard lightswitchPercent > areaPercent, lightswitchPercent <= 100 else {
            throw MotionError("motion lightswitch \(lightswitchPercent) % is out of range; allowed: above the area (\(areaPercent) %) up to 100")
        }
        guard (0...600).contains(cooldownSeconds) else { throw MotionError("motion cooldown \(cooldownSeconds) s is out of range; allowed: 0 to 600") }
        guard zones.count <= 32 else { throw MotionError("\(zones.count) motion zones; allowed: up to 32") }
        for zone in zones { try zone.validate() }
    }
}

/// A bad motion setting, said in words.
public struct MotionError: Error, Sendable, CustomStringConvertible {
    /// What was wrong and what is allowed.
    public let description: String

    /// An error with `description`.
    public init(_ description: String) {
        self.description = description
    }
}
