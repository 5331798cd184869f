/// What the accelerometer is doing, as `/api/status` says it.
public enum GSensorState: String, Sendable, Codable {
    /// Looking for the device (or waiting to look again).
    case searching
    /// Not there (unplugged, or no driver); looked for again with backoff.
    case missing
    /// Readings are coming in.
    case reading
}

/// `/api/status`'s `gsensor`.
public struct GSensorStatus: Sendable, Codable, Equatable {
    /// The device as configured.
    public var device: String
    /// What it is doing.
    public var state: GSensorState
    /// Why it cannot be read, while it cannot.
    public var error: String?
    /// `iio:deviceN` and the driver's name, once found.
    public var iioDevice: String?
    public var name: String?
    /// How it is read: `buffer` (the driver's trigger fills the IIO buffer) or `sysfs` (polled).
    public var method: String?
    /// Readings received.
    public var samples: UInt64
    /// Readings per second over the last second.
    public var rate: Double
    /// The newest reading, g in the sensor's axes.
    public var lastG: [Double]?
    /// Whether gravity (the mounting angle) has been learned.
    public var gravityLearned: Bool
    /// The newest reading's change from gravity, g.
    public var changeG: Double?
    /// The threshold, g.
    public var thresholdG: Double
    /// Impacts found, and the newest one's size in g.
    public var impacts: UInt64
    public var lastImpactG: Double?
    /// When the newest impact peaked, Unix seconds.
    public var lastImpactAt: Double?

    /// A status before anything is known.
    public init(device: String, thresholdG: Double) {
        self.device = device
        state = .searching
        samples = 0
        rate = 0
        gravityLearned = false
        self.thresholdG = thresholdG
        impacts = 0
    }
}
