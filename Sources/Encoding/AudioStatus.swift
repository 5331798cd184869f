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
