import Rules

/// How speed is shown on the picture and in the status: kilometres or miles per hour.
public enum SpeedUnit: String, NamedChoice, Codable {
    case kmh
    case mph

    /// Metres per second in this unit.
    public func convert(_ metresPerSecond: Double) -> Double {
        switch self {
        case .kmh: return metresPerSecond * 3.6
        case .mph: return metresPerSecond * 3.6 / 1.609344
        }
    }

    /// The unit as drawn after a number: `km/h`, `mph`.
    public var symbol: String { self == .kmh ? "km/h" : "mph" }
}
