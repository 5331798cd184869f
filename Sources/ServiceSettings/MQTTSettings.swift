/// `[mqtt]`: the broker events go to, and how Home Assistant finds the cameras.
public struct MQTTSettings: Sendable, Equatable {
    /// `mqtt://HOST[:PORT]` (1883) or `mqtts://HOST[:PORT]` (TLS, 8883).
    public var url: String
    /// Broker account (both or neither).
    public var user: String?
    public var password: String?
    /// CA certificate file for TLS (default: the system's CAs in /etc/ssl/certs).
    public var caFile: String?
    /// First level of every topic.
    public var topicPrefix = "blackbox"
    /// Home Assistant's discovery prefix.
    public var discoveryPrefix = "homeassistant"
    /// This recorder's id in topics and entity ids (default: the host name, in lower case letters, digits and _).
    public var nodeID: String
    /// Seconds between sensor updates (disk, fps, temperature).
    public var stateIntervalSeconds = 30.0

    /// Host, port and TLS from `url`.
    public var endpoint: (host: String, port: Int, tls: Bool) {
        let tls = url.hasPrefix("mqtts://")
        let rest = url.dropFirst(tls ? 8 : 7)
        let hostPort = rest.prefix { $0 != "/" }
        if hostPort.hasPrefix("["), let close = hostPort.firstIndex(of: "]") {
            let host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let port = hostPort[hostPort.index(after: close)...].dropFirst()
            return (host, Int(port) ?? (tls ? 8883 : 1883), tls)
        }
        let parts = hostPort.split(separator: ":", maxSplits: 1)
        return (String(parts.first ?? ""), parts.count > 1 ? Int(parts[1]) ?? -1 : (tls ? 8883 : 1883), tls)
    }

    /// Settings for `url`, with the node id made from `hostName`.
    public init(url: String, hostName: String) {
        self.url = url
        nodeID = Self.sanitised(hostName)
    }

    /// `name` in lower case letters, digits and `_` (what Home Assistant accepts in ids and MQTT in topics).
    public static func sanitised(_ name: String) -> String {
        let mapped = String(name.lowercased().map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
        return mapped.isEmpty ? "blackbox" : mapped
    }

    /// Throws a message naming the first bad setting and what is allowed.
    public func validate() throws(MQTTError) {
        guard url.hasPrefix("mqtt://") || url.hasPrefix("mqtts://") else {
            throw MQTTError("mqtt url \"\(url.prefix(80))\" is not allowed; allowed: mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (TLS)")
        }
        let e = endpoint
        guard !e.host.isEmpty, (1...65535).contains(e.port) else {
            throw MQTTError("mqtt url \"\(url.prefix(80))\" needs a host and a port from 1 to 65535, e.g. mqtt://192.168.1.10:1883")
        }
        guard (user == nil) == (password == nil) else { throw MQTTError("mqtt user and password go together; give both or neither") }
        for (name, value) in [("topic_prefix", topicPrefix), ("discovery_prefix", discoveryPrefix), ("node_id", nodeID)] {
            guard !value.isEmpty, value.count <= 64, !value.contains(where: { "+#/\u{0}".contains($0) || $0.isWhitespace }) else {
                throw MQTTError("mqtt \(name) \"\(value.prefix(64))\" is not allowed; allowed: 1 to 64 characters without /, +, #, spaces")
            }
        }
        guard stateIntervalSeconds >= 1, stateIntervalSeconds <= 3600 else {
            throw MQTTError("mqtt state_interval_seconds \(stateIntervalSeconds) is out of range; allowed: 1 to 3600")
        }
    }
}

/// A bad MQTT setting or a failure of the client library, said in words.
public struct MQTTError: Error, Sendable, CustomStringConvertible {
    /// What was wrong.
    public let description: String

    /// An error with `description`.
    public init(_ description: String) {
        self.description = description
    }
}
