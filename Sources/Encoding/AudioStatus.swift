/// What a camera's sound input is doing, as `/api/status` shows it.
public struct AudioStatus: Codable, Sendable, Equatable {
    /// Whether sound is coming in.
    public enum State: String, Codable, Sendable {
        /// Units are arriving.
        case running
        /// The device is missing, busy or failed; it is reopened with backoff while the picture goes on.
        case noDevice = "no device"
        /// Not started, or stopped.
        case stopped
    }

    /// The configured input (`alsa:DEVICE`, `test:click`).
    public var input: String
    /// Running or not, and why not.
    public var state: State
    /// Why there is no sound, when there is none.
    public var reason: String?
    /// Codec of the track: `aac` (AAC-LC).
    public var codec = "aac"
    /// Samples per second of the track.
    public var sampleRate: Int
    /// Encoder bit rate, bits per second.
    public var bitrate: Int
    /// Whether silence is recorded instead of the microphone (the track goes on).
    public var muted = false
    /// The loudest sample of the last 100 ms as recorded, dBFS (0 is full scale; -200 for digital silence); nil before any.
    public var peakDBFS: Double?
    /// AAC units encoded.
    public var units: UInt64 = 0
    /// Times sound stopped and came back (device lost, overrun): each is a gap in the track.
    public var gaps: UInt64 = 0
    /// Times the device was opened again after a failure.
    public var reopens: UInt64 = 0

    /// A status for `input` in `format`, not started.
    public init(input: AudioInput, format: AudioFormat) {
        self.input = input.description
        state = .stopped
        sampleRate = format.sampleRate
        bitrate = format.bitrate
    }
}

/// A camera's sound input as the camera sees it: made by the executable (so that the camera's module links no
/// GStreamer), started and stopped with the camera.
public protocol AudioSource: AnyObject, Sendable {
    /// Starts capturing; units go to the sink given when it was made.
    func start()
    /// Stops and releases the device.
    func stop()
    /// Records silence (true) or the microphone (false).
    func setMuted(_ muted: Bool)
    /// Counters and state.
    func status() -> AudioStatus
}
