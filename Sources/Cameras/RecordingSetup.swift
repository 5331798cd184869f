import Analysis
import Evidence
import Logging
import Recording

/// What a camera needs to record: the shared settings, the shared retention policy and a logger.
public struct RecordingSetup: Sendable {
    /// Recording settings.
    public var config: RecordingConfig
    /// Loop overwrite policy of the recordings root.
    public var retention: Retention
    /// Where the recorder logs.
    public var logger: Logger
    /// Segments recovered at start-up.
    public var recovered: Int
    /// The device key that signs every fragment (nil: unsigned recordings).
    public var key: DeviceKey?
    /// Every camera's motion detector settings (a camera's own `motion` replaces them; clips only in `motion` mode).
    public var motion = MotionSettings()
    /// Whether the files carry a timed metadata track (a GPS or an accelerometer is configured).
    public var metadata = false

    /// Creates a setup.
    public init(config: RecordingConfig, retention: Retention, logger: Logger, recovered: Int = 0, key: DeviceKey? = nil) {
        self.key = key
        self.config = config
        self.retention = retention
        self.logger = logger
        self.recovered = recovered
    }
}
