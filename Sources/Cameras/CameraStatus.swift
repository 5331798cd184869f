import Encoding
import Analysis
import Recording

/// What `/api/status` reports for one camera.
public struct CameraStatus: Codable, Sendable {
    /// Why frames were lost, by cause.
    public struct Drops: Codable, Sendable {
        /// Source found no free buffer (encoders behind).
        public var noFreeBuffer: UInt64
        /// Encoder queue full.
        public var encoderBusy: UInt64
        /// libjpeg-turbo failed.
        public var encodeErrors: UInt64
        /// Source fell behind its clock and skipped slots.
        public var sourceLate: UInt64
        /// Camera JPEGs refused as corrupt or truncated.
        public var corruptJPEG: UInt64
        /// Frames the device lost (sequence gaps).
        public var deviceDropped: UInt64
        /// Buffers the device flagged as damaged.
        public var deviceErrors: UInt64
    }

    /// Encode time statistics over the last 1024 frames.
    public struct EncodeTime: Codable, Sendable {
        /// Mean, milliseconds.
        public var mean: Double
        /// 99th percentile, milliseconds.
        public var p99: Double
    }

    /// Camera id.
    public var id: String
    /// The source, e.g. `v4l2 /dev/video0 640x480@25 YUYV`.
    public var source: String
    /// `streaming`, `no signal`, `starting` or `stopped`.
    public var state: String
    /// Why there is no picture, while there is none.
    public var stateReason: String?
    /// Configured width.
    public var width: Int
    /// Configured height.
    public var height: Int
    /// Configured frame rate.
    public var configuredFps: Int
    /// Frames the source delivered per second over the last 2 s.
    public var measuredFps: Double
    /// JPEG quality.
    public var quality: Int
    /// Whether the clock overlay is drawn.
    public var overlay: Bool
    /// How the camera is mounted: `0`, `180`, with `hflip` / `vflip` when mirrored.
    public var orientation: String
    /// Encoder threads.
    public var encoderWorkers: Int
    /// Frames the source delivered.
    public var framesCaptured: UInt64
    /// Frames encoded and published.
    public var framesEncoded: UInt64
    /// Frames lost, all causes together (see `drops`).
    public var framesDropped: UInt64
    /// Frames lost, by cause.
    public var drops: Drops
    /// Times the source was lost and reopened.
    public var reconnects: UInt64
    /// Frames slow live viewers skipped.
    public var viewerSkippedFrames: UInt64
    /// Encode time, mean and p99.
    public var encodeMs: EncodeTime?
    /// Open live streams.
    public var liveClients: Int
    /// Each live client: its kind and bytes per second.
    public var liveStreams: [LiveClientStatus]
    /// Encoders running for this camera: one JPEG pool, and one H.264 encoder or none — however many clients watch.
    public var encoders: Encoders
    /// The recording codec.
    public var codec: VideoCodec
    /// Whether JPEGs are made only while someone wants them (H.264 recording).
    public var jpegOnDemand: Bool
    /// Frames not JPEG-encoded because nobody wanted one.
    public var jpegSkipped: UInt64
    /// Age of the newest frame.
    public var lastFrameAgeMs: Double?
    /// The sound input (nil without sound).
    public var audio: AudioStatus?
    /// Recording state (nil when the camera does not record).
    public var recording: RecorderStatus?
    /// What is recorded: continuous, motion (event clips only) or off.
    public var recordMode: RecordingMode?
    /// The motion detector (nil when it does not run).
    public var motion: MotionStatus?
    /// The H.264 encoder (nil unless the camera records H.264).
    public var h264: H264Status?
}

/// How many encoders of each kind a camera runs.
public struct Encoders: Codable, Sendable {
    /// JPEG compressors open: one per encoder thread (`encoderWorkers`).
    public var jpeg: Int
    /// x264 encoders open: one while recording H.264 or while live H.264 clients watch (from its first frame), else none.
    public var h264: Int
}

/// What `/api/status` reports about a camera's H.264 encoder.
public struct H264Status: Codable, Sendable {
    /// Frames encoded.
    public var framesEncoded: UInt64
    /// Frames dropped because x264 was behind (its queue or copy pool full).
    public var droppedBusy: UInt64
    /// Camera JPEGs that could not be decoded for it (corrupt, or another size).
    public var droppedUndecodable: UInt64
    /// Frames x264 failed on.
    public var errors: UInt64
    /// Overlay + encode time, mean and p99 over the last frames.
    public var encodeMs: CameraStatus.EncodeTime?
    /// Whether it runs only for live H.264 clients (the camera records MJPEG).
    public var liveOnly: Bool
}
