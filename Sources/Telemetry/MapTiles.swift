import Rules

/// `[gps] tiles`: where the web UI fetches map tiles to draw under a recorded track when the browser is online
/// (an `http(s)` URL template with `{z}`, `{x}` and `{y}`, as OpenStreetMap's and most tile servers' are), and the
/// attribution their owner asks to be shown.
public struct MapTiles: Sendable, Equatable, Codable {
    /// The URL template.
    public let template: String
    /// `scheme://host[:port]` of the template: the page's Content-Security-Policy lets images come from there.
    public let origin: String
    /// Shown in a corner of the map (e.g. "© OpenStreetMap contributors").
    public var attribution: String?

    /// What a template must look like.
    public static let allowed = "an http:// or https:// URL with {z}, {x} and {y}, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png"

    /// Tiles from `template`, or an error naming `name` and what is allowed.
    public init(template: String, name: String) throws(RuleError) {
        let scheme = template.hasPrefix("https://") ? "https://" : template.hasPrefix("http://") ? "http://" : nil
        // The origin goes into a response header and the template into the page: no quotes, spaces or control characters.
        let safe = template.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value < 0x7F && !"\"'<>;,\\`".unicodeScalars.contains($0) }
        guard let scheme, safe, template.count <= 512, ["{z}", "{x}", "{y}"].allSatisfy(template.contains) else {
            throw RuleError(name: name, text: template, allowed: Self.allowed)
        }
        let rest = template.dropFirst(scheme.count)
        let host = rest.prefix { $0 != "/" && $0 != "?" }
        guard !host.isEmpty, !host.contains("{"), !host.contains("@") else { throw RuleError(name: name, text: template, allowed: Self.allowed) }
        self.template = template
        origin = scheme + host
    }
}
