/// What a camera's recorder is doing (the JSON of `/api/status` spells the cases as they are named).
public enum RecorderState: String, Codable, Sendable {
    /// Writing segments.
    case recording
    /// Switched off (event clips still work).
    case stopped
    /// A disk error; retrying with backoff.
    case error
    /// No room may be made (disk filled by others, or the quota full of protected clips); retrying.
    case paused
}

/// What `/api/status` reports about one camera's recording.
public struct RecorderStatus: Codable, Sendable {
    /// Whether recording is switched on.
    public var enabled: Bool
    /// What the recorder is doing.
    /// Seconds between the frames kept while continuous recording is a time-lapse (parked); absent otherwise.
    public var timelapseSeconds: Double?
    public var state: RecorderState
    /// Segment being written, relative to the root.
    public var currentFile: String?
    /// Bytes written since launch.
    public var bytesWritten: Int
    /// Frames written since launch.
    public var framesWritten: Int
    /// Segments finished since launch.
    public var segments: Int
    /// Frames not recorded: queue full (disk too slow) or disk failing.
    public var droppedFrames: UInt64
    /// Event clips being written now.
    public var activeEvents: Int
    /// Event clips finished since launch.
    public var events: Int
    /// Events that extended a clip already being written instead of starting another.
    public var eventsMerged: Int = 0
    /// Seconds of footage held for the next event clip's pre-roll (up to the pre-roll and one fragment): the fragment being
    /// gathered in memory, the rest read back from the segment when a clip starts (in memory when nothing is recorded).
    public var preRollSeconds: Double = 0
    /// Sound units written into segments since launch (0 without sound).
    public var soundUnitsWritten: Int = 0
    /// Sound units not recorded: the queue was full, or they came too early or before their file.
    public var soundUnitsDropped: UInt64 = 0
    /// Metadata samples (GPS reports) written into segments since launch (0 without GPS).
    public var metadataSamplesWritten: Int = 0
    /// Metadata samples not recorded: the queue was full.
    public var metadataSamplesDropped: UInt64 = 0
    /// The last disk error, while it lasts.
    public var lastError: String?
}
