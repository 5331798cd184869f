/// Whether the car's engine runs, as the ignition line says.
public enum IgnitionState: String, Sendable, Codable {
    /// The line is active: driving (or at least the engine on).
    case on
    /// The line is inactive: parked.
    case off
    /// Not read (yet): the line cannot be found or read.
    case unknown
}

/// One GPIO line's state, as `/api/status` says it.
public struct GPIOLineStatus: Sendable, Codable, Equatable {
    /// The line as configured.
    public var line: String
    /// `/dev/gpiochipN` and the offset, once found.
    public var device: String?
    public var offset: UInt32?
    /// How changes are seen: `edges` (the chip interrupts) or `polled` (every 10 ms).
    public var method: String?
    /// The debounced level (true: active), nil while not read.
    public var active: Bool?
    /// Why it cannot be read, while it cannot.
    public var error: String?
    /// Debounced changes seen.
    public var changes: UInt64 = 0

    /// A line not looked for yet.
    public init(line: String) {
        self.line = line
    }
}

/// `/api/status`'s `gpio`: the ignition and button lines and parking.
public struct GPIOStatus: Sendable, Codable, Equatable {
    /// The ignition line (nil when not configured).
    public var ignition: GPIOLineStatus?
    /// The button line (nil when not configured).
    public var button: GPIOLineStatus?
    /// What the ignition says.
    public var ignitionState: IgnitionState
    /// Whether the cameras are in parking mode, and since when (Unix seconds).
    public var parked: Bool
    public var parkedSince: Double?
    /// Button presses.
    public var presses: UInt64
    /// When the system will be asked to power off (Unix seconds), while parked with `parking_shutdown_after`.
    public var shutdownAt: Double?

    /// A status before anything is read.
    public init(ignition: String?, button: String?) {
        self.ignition = ignition.map(GPIOLineStatus.init)
        self.button = button.map(GPIOLineStatus.init)
        ignitionState = .unknown
        parked = false
        presses = 0
    }
}
