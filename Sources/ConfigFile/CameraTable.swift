import Analysis
import Cameras
import Capture
import Encoding
import Recording

/// One `[[camera]]` table as typed values, checked when the file is read: what it sets, nil where it is silent (the
/// flags, `[capture]` and the built-in defaults fill those in, in `config(over:defaultFormat:)`).
public struct CameraTable: Sendable, Equatable {
    /// The camera's id.
    public var id: String
    /// Its source; a V4L2 device's format is the table's own only when `formatGiven`.
    public var source: SourceSpec
    /// Whether the table named the capture format (or rpicam's codec).
    public var formatGiven: Bool
    /// Size and rate the table gives (its `source` may carry them too), nil where it is silent.
    public var width: Int?
    public var height: Int?
    public var fps: Int?
    public var quality: Int?
    public var overlay: Bool?
    /// How this camera is mounted, over `[capture]`'s.
    public var rotation: Int?
    public var hflip: Bool?
    public var vflip: Bool?
    public var workers: Int?
    public var codec: VideoCodec?
    public var mode: RecordingMode?
    /// `[camera.motion]` over `[motion]`, with its zones.
    public var motion: MotionSettings?
    /// Its sound input (`alsa:DEVICE`, `test:click`); nil: no sound.
    public var audio: AudioInput?
    /// AAC bit rate of its sound.
    public var audioBitrate: Int?

    /// The camera's configuration: this table's values over `defaults` (flags over `[capture]` over the built-in
    /// defaults), a V4L2 device without a format of its own taking `defaultFormat`; validated.
    public func config(over defaults: CameraConfig, defaultFormat: CaptureFormat) throws(ConfigError) -> CameraConfig {
        var c = defaults
        c.id = id
        c.source = source
        if case .v4l2(let path, _) = source, !formatGiven { c.source = .v4l2(path: path, format: defaultFormat) }
        if width != nil || fps != nil { c.geometryExplicit = true }
        if let width, let height {
            c.geometry.width = width
            c.geometry.height = height
        }
        if let fps { c.geometry.fps = fps }
        if let quality { c.quality = quality }
        if let overlay { c.overlay = overlay }
        if let rotation { c.orientation.rotation = rotation }
        if let hflip { c.orientation.hflip = hflip }
        if let vflip { c.orientation.vflip = vflip }
        if let workers { c.workers = workers }
        if let codec { c.codec = codec }
        if let mode { c.recordMode = mode }
        if let motion { c.motion = motion }
        if let audio { c.audio = audio }
        if let audioBitrate { c.audioBitrate = audioBitrate }
        try c.validate()
        return c
    }
}
