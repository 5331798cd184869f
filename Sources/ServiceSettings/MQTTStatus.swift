/// What `/api/status` reports of the MQTT connection.
public struct MQTTStatus: Codable, Sendable {
    /// The broker, as configured.
    public var url: String
    /// Connected now.
    public var connected: Bool
    /// Connections made since launch (more than one: the broker went away and came back).
    public var connects: UInt64
    /// Messages published since launch.
    public var published: UInt64
    /// Messages that could not be handed to the client library.
    public var publishFailures: UInt64
    /// Commands received.
    public var commands: UInt64
    /// Why the last connection ended or failed, while not connected.
    public var lastError: String?

    /// Creates a value with every field given.
    public init(url: String, connected: Bool, connects: UInt64, published: UInt64, publishFailures: UInt64, commands: UInt64, lastError: String? = nil) {
        self.url = url
        self.connected = connected
        self.connects = connects
        self.published = published
        self.publishFailures = publishFailures
        self.commands = commands
        self.lastError = lastError
    }
}
