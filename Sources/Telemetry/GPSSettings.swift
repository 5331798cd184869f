import Rules

/// `[gps]`: the gpsd the daemon reads fixes from, and how they are shown. Off unless configured.
public struct GPSSettings: Sendable, Equatable {
    /// gpsd's address.
    public var host: String
    public var port: Int
    /// Speed on the picture and in the status.
    public var units: SpeedUnit = .kmh
    /// Whether the picture also shows latitude and longitude.
    public var overlayPosition = false
    /// An event clip is saved when the speed goes over this (km/h; nil: never).
    public var speedEventKmh: Double?
    /// Map tiles the web UI draws under a track when the browser is online (nil: the track alone, as offline).
    public var tiles: MapTiles?

    /// How an address is written.
    public static let addressAllowed = "HOST:PORT, e.g. 127.0.0.1:2947 (gpsd's port)"
    /// The speeds an over-speed event may be set at.
    public static let speedEventRule = RangeRule<Double>(1...400, allowed: "1 to 400 km/h")

    /// Settings for gpsd at `address` (`HOST:PORT`, `[V6]:PORT`, or `HOST` for port 2947), or an error naming `name`.
    public init(address: String, name: String) throws(RuleError) {
        var host = Substring(address), port = 2947
        if address.hasPrefix("["), let close = address.firstIndex(of: "]") {
            host = address[address.index(after: address.startIndex)..<close]
            let rest = address[address.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":"), let p = Int(rest.dropFirst()) else { throw RuleError(name: name, text: address, allowed: Self.addressAllowed) }
                port = p
            }
        } else if let colon = address.lastIndex(of: ":") {
            guard let p = Int(address[address.index(after: colon)...]) else { throw RuleError(name: name, text: address, allowed: Self.addressAllowed) }
            host = address[..<colon]
            port = p
        }
        guard !host.isEmpty, host.allSatisfy({ $0.isASCII && !$0.isWhitespace }), (1...65535).contains(port) else {
            throw RuleError(name: name, text: address, allowed: Self.addressAllowed)
        }
        self.host = String(host)
        self.port = port
    }

    /// `HOST:PORT`.
    public var address: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
