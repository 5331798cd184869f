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
    /// Why the last attempt failed.
    public var lastError: String?
}
