import Foundation

/// One report of the GPS receiver as gpsd gave it (a TPV): the fix's mode, where, how fast, which way, the receiver's
/// time, and when it reached the daemon on the cameras' capture clock (what places it beside the pictures).
public struct GPSFix: Sendable, Equatable, Codable {
    /// What the receiver could work out (gpsd's TPV `mode`; 0 "unknown" is `none`).
    public enum Mode: Int, Sendable, Codable {
        case none = 1
        case twoD = 2
        case threeD = 3
    }

    /// Capture clock (CLOCK_MONOTONIC) when the report arrived.
    public var monotonicNanos: UInt64
    /// Fix mode.
    public var mode: Mode
    /// The receiver's UTC time of the fix, Unix seconds.
    public var time: Double?
    /// Degrees, north positive.
    public var latitude: Double?
    /// Degrees, east positive.
    public var longitude: Double?
    /// Metres above mean sea level.
    public var altitude: Double?
    /// Metres per second over ground.
    public var speed: Double?
    /// Course over ground, degrees from true north.
    public var heading: Double?
    /// Estimated horizontal error, metres.
    public var horizontalError: Double?
    /// Estimated vertical error, metres.
    public var verticalError: Double?

    /// A fix with every field given (nil: the receiver did not say).
    public init(monotonicNanos: UInt64, mode: Mode, time: Double? = nil, latitude: Double? = nil, longitude: Double? = nil, altitude: Double? = nil,
                speed: Double? = nil, heading: Double? = nil, horizontalError: Double? = nil, verticalError: Double? = nil) {
        self.monotonicNanos = monotonicNanos
        self.mode = mode
        self.time = time
        self.latitude = latitude
        self.longitude = longitude
        self.altitude = altitude
        self.speed = speed
        self.heading = heading
        self.horizontalError = horizontalError
        self.verticalError = verticalError
    }

    /// Whether the report has a position.
    public var hasPosition: Bool { mode != .none && latitude != nil && longitude != nil }
}

extension GPSFix {
    /// Seconds from the Unix epoch to the GPS epoch (1980-01-06), in which CAMM states its times.
    static let gpsEpochOffset = 315_964_800.0
    /// The CAMM record type of a GPS report.
    public static let cammType: UInt16 = 6
    /// Bytes of a CAMM type 6 record.
    public static let cammRecordSize = 60

    /// The fix as a Google Camera Motion Metadata record of type 6 (GPS, little-endian): time since the GPS epoch
    /// (counted in UTC seconds, as exiftool and mapillary_tools read it), fix type, latitude, longitude, altitude, the
    /// accuracies, and the velocity east/north/up from speed and heading. A report without a fix is type 0 ("no
    /// measurement") with zero position, so a stretch without fix is visible in the track.
    public var cammRecord: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.cammRecordSize)
        func u16(_ v: UInt16) { out.append(UInt8(v & 0xFF)); out.append(UInt8(v >> 8)) }
        func u32(_ v: UInt32) { for s in stride(from: 0, through: 24, by: 8) { out.append(UInt8((v >> UInt32(s)) & 0xFF)) } }
        func f64(_ v: Double) { let b = v.bitPattern; for s in stride(from: 0, through: 56, by: 8) { out.append(UInt8((b >> UInt64(s)) & 0xFF)) } }
        func f32(_ v: Double) { u32(Float(v).bitPattern) }
        let fixed = hasPosition
        let radians = (heading ?? 0) * .pi / 180
        let v = fixed ? speed ?? 0 : 0
        u16(0); u16(Self.cammType)
        f64(time.map { $0 - Self.gpsEpochOffset } ?? 0)
        u32(fixed ? UInt32(mode.rawValue) : 0)
        f64(fixed ? latitude! : 0)
        f64(fixed ? longitude! : 0)
        f32(fixed ? altitude ?? 0 : 0)
        f32(horizontalError ?? 0)
        f32(verticalError ?? 0)
        f32(v * sin(radians))
        f32(v * cos(radians))
        f32(0)
        f32(0)
        return out
    }

    /// The fix a CAMM type 6 record states (nil for another type or a short record); speed and heading come back from
    /// the velocity (a standing car's heading is not kept: 0).
    public init?(cammRecord b: ArraySlice<UInt8>, monotonicNanos: UInt64) {
        guard b.count >= Self.cammRecordSize else { return nil }
        let s = b.startIndex
        func u32(_ i: Int) -> UInt32 { (0..<4).reduce(UInt32(0)) { $0 | UInt32(b[s + i + $1]) << UInt32(8 * $1) } }
        func f64(_ i: Int) -> Double { Double(bitPattern: (0..<8).reduce(UInt64(0)) { $0 | UInt64(b[s + i + $1]) << UInt64(8 * $1) }) }
        func f32(_ i: Int) -> Double { Double(Float(bitPattern: u32(i))) }
        guard b[s + 2] == UInt8(Self.cammType), b[s + 3] == 0 else { return nil }
        let type = u32(12)
        let east = f32(44), north = f32(48)
        let speed = (east * east + north * north).squareRoot()
        let heading = speed > 0 ? (atan2(east, north) * 180 / .pi + 360).truncatingRemainder(dividingBy: 360) : 0
        let seconds = f64(4)
        self.init(monotonicNanos: monotonicNanos, mode: Mode(rawValue: Int(type)) ?? .none, time: seconds == 0 ? nil : seconds + Self.gpsEpochOffset,
                  latitude: type >= 2 ? f64(16) : nil, longitude: type >= 2 ? f64(24) : nil, altitude: type >= 2 ? f32(32) : nil,
                  speed: type >= 2 ? speed : nil, heading: type >= 2 ? heading : nil,
                  horizontalError: f32(36) == 0 ? nil : f32(36), verticalError: f32(40) == 0 ? nil : f32(40))
    }
}
