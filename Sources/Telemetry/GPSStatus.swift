/// What the GPS receiver is doing, as `/api/status`, `/metrics` and the picture say it.
public enum GPSState: String, Sendable, Codable {
    /// Connecting to gpsd (or waiting to retry).
    case connecting
    /// gpsd cannot be reached or refused us; retried with backoff.
    case noGpsd = "no gpsd"
    /// gpsd answers but its receiver has no fix (or no receiver).
    case noFix = "no fix"
    /// A fix (2D or 3D).
    case fix
}

/// `/api/status`'s `gps`.
public struct GPSStatus: Sendable, Codable, Equatable {
    /// gpsd's address.
    public var gpsd: String
    /// What the receiver is doing.
    public var state: GPSState
    /// Why gpsd cannot be used, while it cannot.
    public var error: String?
    /// gpsd's release and protocol, once connected.
    public var release: String?
    /// The newest report (with or without a fix).
    public var last: GPSFix?
    /// Seconds since the newest report.
    public var lastAgeSeconds: Double?
    /// Speed in `units`, when there is a fix.
    public var speed: Double?
    /// `kmh` or `mph`.
    public var units: SpeedUnit
    /// The GPS line drawn on the picture now.
    public var overlay: String
    /// The receiver's clock minus the system clock, seconds (positive: the system clock is behind).
    public var clockOffsetSeconds: Double?
    /// Whether the system clock agrees with the receiver's within a second.
    public var clockChecked: Bool
    /// Reports received, connections made, and reports that could not be read.
    public var reports: UInt64
    public var connects: UInt64
    public var unreadable: UInt64
    /// The map tiles the web UI draws under a track (from the settings).
    public var tiles: MapTiles?
    /// Satellites used and seen (from SKY).
    public var satellitesUsed: Int?
    public var satellitesSeen: Int?

    /// A status before anything is known.
    public init(gpsd: String, units: SpeedUnit, tiles: MapTiles? = nil) {
        self.gpsd = gpsd
        state = .connecting
        self.units = units
        self.tiles = tiles
        overlay = "GPS: connecting"
        clockChecked = false
        reports = 0
        connects = 0
        unreadable = 0
    }
}
