/// An event clip just requested.
public struct EventTicket: Codable, Sendable {
    /// Camera id.
    public var camera: String
    /// Why (from the request).
    public var reason: String
    /// Where the clip will be, relative to the root.
    public var file: String
    /// Seconds before the request included.
    public var preRollSeconds: Double
    /// Seconds after the request included.
    public var postRollSeconds: Double
    /// Whether the event extended a clip already being written (same `file`).
    public var extended: Bool = false
}
