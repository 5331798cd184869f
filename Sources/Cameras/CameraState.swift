import Capture
import Encoding
import Frames
import Recording
import Synchronization

/// What changes while a camera runs, in one place behind one lock. A class so that the motion callback, made
/// before the camera exists, can read the record mode from it.
final class CameraState: Sendable {
    /// The fields; read and written only inside `withLock`.
    struct Fields: Sendable {
        /// Settings as they are now (source, size, rate, quality, overlay, codec and mode change at run time).
        var config: CameraConfig
        /// The running source (replaced by `switchSource` and `resize`).
        var source: any FrameSource
        /// Where the source hands its frames (set by `start`; nil until then).
        var sink: (@Sendable (RawFrame) -> Void)?
        /// The H.264 stream: while the camera records H.264 or live H.264 / RTSP clients watch.
        var h264: H264Stream?
        /// Live H.264 clients: a camera recording MJPEG runs its H.264 encoder while there are any.
        var h264Viewers = 0
        /// The codec recorded now.
        var codec: VideoCodec
        /// What is recorded now (nil without a recorder).
        var mode: RecordingMode?
        /// The last mode that recorded something (what "recording on" returns to).
        var lastActiveMode = RecordingMode.continuous
        /// While parked: the mode to return to when the car drives again (nil when parking changed nothing).
        var parkedFrom: RecordingMode?
    }

    private let fields: Mutex<Fields>

    init(config: CameraConfig, source: any FrameSource, codec: VideoCodec, mode: RecordingMode?) {
        var start = Fields(config: config, source: source, codec: codec, mode: mode)
        if let mode, mode != .off { start.lastActiveMode = mode }
        fields = Mutex(start)
    }

    /// Runs `body` with the fields locked (keep it short: no blocking work inside).
    func withLock<R: Sendable>(_ body: (inout Fields) -> R) -> R {
        fields.withLock { body(&$0) }
    }
}
