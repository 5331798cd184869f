import Encoding
import Frames
import Logging

/// What a camera asks its sound input to be made from.
public struct AudioRequest: Sendable {
    /// The camera's id.
    public let camera: String
    /// Where the sound comes from.
    public let input: AudioInput
    /// Rate, channels, bit rate.
    public let format: AudioFormat
    /// The test pattern's flash the test click sounds on.
    public let flash: SyncFlash?
    /// Whether it starts muted.
    public let muted: Bool
    /// Where it logs.
    public let logger: Logger
    /// Where its units go (must not block).
    public let sink: @Sendable (EncodedAudio) -> Void
}

/// Makes a camera's sound input.
public typealias AudioFactory = @Sendable (AudioRequest) -> any AudioSource
