/// What `/api/status` says of RTSP.
public struct RTSPStatus: Codable, Sendable {
    /// One camera's stream.
    public struct Stream: Codable, Sendable {
        /// Camera id.
        public var camera: String
        /// Path on the server (`/front`).
        public var path: String
        /// Clients playing it now.
        public var clients: Int
        /// Whether its media runs (a client asked for it); with MJPEG recording its H.264 encoder runs for it.
        public var active: Bool
        /// Frames passed to the RTSP server since the start.
        public var framesSent: UInt64
        /// Frames not passed on because the server's clients were behind or the queue was full.
        public var framesDropped: UInt64

        /// Creates a value with every field given.
        public init(camera: String, path: String, clients: Int, active: Bool, framesSent: UInt64, framesDropped: UInt64) {
            self.camera = camera
            self.path = path
            self.clients = clients
            self.active = active
            self.framesSent = framesSent
            self.framesDropped = framesDropped
        }
    }

    /// Whether the server is configured on.
    public var enabled: Bool
    /// Whether it is listening.
    public var listening: Bool
    /// Port it listens on.
    public var port: Int?
    /// Why it is not listening.
    public var error: String?
    /// Authentication offered: `none` (public live view), `basic`, or `basic+digest`.
    public var auth: String
    /// RTSP sessions open now (all cameras).
    public var sessions: Int
    /// RTSP connections open now (at most 64; idle ones end after 60 s).
    public var connections: Int
    /// Connections closed at once because 64 were open.
    public var refusedConnections: Int
    /// Every camera's stream.
    public var streams: [Stream]
    /// Pushes to a central server.
    public var publish: [RTSPPublisherStatus]

    /// Creates a value with every field given.
    public init(enabled: Bool, listening: Bool, port: Int? = nil, error: String? = nil, auth: String, sessions: Int, connections: Int, refusedConnections: Int, streams: [Stream], publish: [RTSPPublisherStatus]) {
        self.enabled = enabled
        self.listening = listening
        self.port = port
        self.error = error
        self.auth = auth
        self.sessions = sessions
        self.connections = connections
        self.refusedConnections = refusedConnections
        self.streams = streams
        self.publish = publish
    }
}

/// One camera's push to a central server.
public struct RTSPPublisherStatus: Codable, Sendable {
    /// What a publisher is doing.
    public enum State: String, Codable, Sendable {
        /// Connecting (ANNOUNCE, SETUP, RECORD).
        case connecting
        /// The receiver accepted the stream and frames flow.
        case publishing
        /// The last attempt failed; waiting before the next.
        case retrying
    }

    /// Camera id.
    public var camera: String
    /// Where it goes (password hidden).
    public var url: String
    /// Now.
    public var state: State
    /// Connections that failed or ended.
    public var failures: UInt64
    /// Frames sent since the start.
    public var framesSent: UInt64
    /// Sound units (AAC) sent since the start.
    public var soundUnitsSent: UInt64 = 0
    /// Sound units dropped because the connection could not take them as fast as they came (its queue was full).
    public var soundUnitsDropped: UInt64 = 0
    /// Why the last attempt failed.
    public var lastError: String?

    /// Creates a value with every field given.
    public init(camera: String, url: String, state: State, failures: UInt64, framesSent: UInt64, lastError: String? = nil) {
        self.camera = camera
        self.url = url
        self.state = state
        self.failures = failures
        self.framesSent = framesSent
        self.lastError = lastError
    }
}
