/// Says when the speed goes over a limit (once, until it has come back 5 km/h under it): what an over-speed event clip
/// is saved for.
public struct SpeedWatch: Sendable {
    /// The limit, km/h.
    public let limitKmh: Double
    private var armed = true

    /// A watch of `limitKmh`.
    public init(limitKmh: Double) {
        self.limitKmh = limitKmh
    }

    /// The speed (km/h, rounded) when `fix` crosses the limit, nil otherwise.
    public mutating func check(_ fix: GPSFix) -> Int? {
        guard fix.hasPosition, let speed = fix.speed else { return nil }
        let kmh = speed * 3.6
        if armed, kmh > limitKmh {
            armed = false
            return Int(kmh.rounded())
        }
        if kmh < limitKmh - 5 { armed = true }
        return nil
    }
}
