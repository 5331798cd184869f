import Encoding
import Frames
import Recording

/// A camera's settings as changed in the web UI or the API, kept across restarts.
public struct SavedSettings: Sendable, Equatable {
    /// The source they were made for (`CameraConfig.source.description`): saved settings of
    /// another source (the configuration now names a different camera) are not applied.
    public var source: String
    /// Size and rate.
    public var geometry: FrameGeometry
    /// JPEG quality.
    public var quality: Int
    /// Clock overlay.
    public var overlay: Bool
    /// Recording codec (nil in files written before it could be changed).
    public var codec: VideoCodec?
    /// Record mode (nil when never changed at run time).
    public var mode: RecordingMode?
    /// Sound muted (nil: never muted at run time).
    public var muted: Bool?

    /// Creates the record.
    public init(source: String, geometry: FrameGeometry, quality: Int, overlay: Bool, codec: VideoCodec? = nil, mode: RecordingMode? = nil,
                muted: Bool? = nil) {
        self.mode = mode
        self.muted = muted
        self.source = source
        self.geometry = geometry
        self.quality = quality
        self.overlay = overlay
        self.codec = codec
    }

    /// The settings a camera runs with now.
    public init(_ config: CameraConfig) {
        self.init(source: config.source.description, geometry: config.geometry, quality: config.quality, overlay: config.overlay,
                  codec: config.codec, mode: config.recordMode, muted: config.audio == nil ? nil : config.audioMuted)
    }
}

extension CameraConfig {
    /// This configuration with `saved` applied; nil when `saved` belongs to another source or is not valid.
    public func applying(_ saved: SavedSettings) -> CameraConfig? {
        guard saved.source == source.description else { return nil }
        var changed = self
        changed.geometry = saved.geometry
        changed.quality = saved.quality
        changed.overlay = saved.overlay
        if let codec = saved.codec { changed.codec = codec }
        if let mode = saved.mode { changed.recordMode = mode }
        if let muted = saved.muted { changed.audioMuted = muted }
        return (try? changed.validate()) == nil ? nil : changed
    }
}
