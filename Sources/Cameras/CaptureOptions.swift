import Capture
import Encoding
import Frames
import Logging
import Rules

/// Settings for device sources.
public struct CaptureOptions: Sendable {
    /// mmap buffers to request from a V4L2 device.
    public var buffers: Int
    /// Allowed mmap buffers per device.
    public static let buffersRule = RangeRule(2...32)
    /// Fall back to MJPEG when H.264 is asked for and no hardware encoder exists.
    public var h264Fallback: Bool
    /// Where sources log.
    public var logger: Logger
    /// Makes `libcamera:` sources (camera id, selector, size and rate): given by the executable, so that this module
    /// and the ones above it link no GStreamer; nil where libcamera support is not built in.
    public var libcamera: (@Sendable (_ cameraID: String, _ selector: String, _ geometry: FrameGeometry, _ logger: Logger) -> any FrameSource)?

    /// Makes a camera's sound input: given by the executable, like `libcamera`, so that no module below it links
    /// GStreamer; nil: no sound support.
    public var audio: AudioFactory?

    /// Creates options (4 buffers, no H.264 fallback).
    public init(buffers: Int = 4, h264Fallback: Bool = false, logger: Logger = Logger(label: "capture"),
                libcamera: (@Sendable (String, String, FrameGeometry, Logger) -> any FrameSource)? = nil,
                audio: AudioFactory? = nil) {
        self.audio = audio
        self.buffers = buffers
        self.h264Fallback = h264Fallback
        self.logger = logger
        self.libcamera = libcamera
    }
}
