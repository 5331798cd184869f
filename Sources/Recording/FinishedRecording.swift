/// A segment or event clip just finished (renamed from `.part` and synced): what hooks and MQTT are told.
public struct FinishedRecording: Sendable, Equatable {
    /// Camera id.
    public var camera: String
    /// Segment or event clip.
    public var kind: RecordingKind
    /// The file, as the recorder opened it (under the recordings root).
    public var path: String
    /// The file relative to the recordings root, as `/api/recordings` lists it.
    public var relative: String
    /// Why an event clip was written (`motion`, `api`, …); nil for segments.
    public var reason: String?
    /// Wall-clock time of its first frame, seconds since 1970.
    public var startEpoch: Double
    /// Seconds of video.
    public var seconds: Double
    /// Bytes on disk.
    public var bytes: Int

    /// Creates the record.
    public init(camera: String, kind: RecordingKind, path: String, relative: String, reason: String?, startEpoch: Double, seconds: Double, bytes: Int) {
        self.camera = camera
        self.kind = kind
        self.path = path
        self.relative = relative
        self.reason = reason
        self.startEpoch = startEpoch
        self.seconds = seconds
        self.bytes = bytes
    }
}
