import AudioCapture
import Cameras
import Encoding
import Frames
import Logging

/// How cameras' sound inputs are made in this executable: ALSA (or the test click) through GStreamer, encoded to AAC.
enum AudioWiring {
    /// The factory `CaptureOptions.audio` takes.
    static let factory: AudioFactory = { r in
        AudioCapture(camera: r.camera, input: r.input, format: r.format, flash: r.flash, muted: r.muted, logger: r.logger, sink: r.sink)
    }
}
