import Rules

/// The rules of the daemon's own settings (`[server]`, `[log]`): the flags and the configuration file check with these.
public enum ServerSettings {
    /// The web server's port unless one is given.
    public static let defaultPort = 8080
    /// The HTTP and RTSP ports (0: any free port, printed at start).
    public static let portRule = RangeRule(0...65535, allowed: "1 to 65535, or 0 for any free port")
    /// Open client connections at most.
    public static let maxConnectionsRule = RangeRule(8...100_000)
    /// Log levels, quietest last.
    public static let logLevelRule = ChoiceRule(["trace", "debug", "info", "notice", "warning", "error", "critical"])
    /// How a trusted proxy's address is said in an error.
    public static let proxyAllowed = "IPv4 or IPv6 addresses such as 127.0.0.1 or ::1"
}
