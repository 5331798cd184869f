import AudioCapture
import Encoding
import Frames
import Logging

/// How cameras' sound inputs are made in this executable: ALSA (or the test click) through GStreamer, encoded to AAC.
enum AudioWiring {
    /// The factory `CaptureOptions.audio` takes.
    static let factory: @Sendable (String, AudioInput, AudioFormat, SyncFlash?, Logger, @escaping @Sendable (EncodedAudio) -> Void) -> any AudioSource = {
        camera, input, format, flash, logger, sink in
        AudioCapture(camera: camera, input: input, format: format, flash: flash, logger: logger, sink: sink)
    }
}
