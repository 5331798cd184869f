import Recording
import Synchronization

/// The record mode, shared between the camera and its motion callback.
final class ModeCell: Sendable {
    let value: Mutex<RecordingMode?>

    init(_ mode: RecordingMode?) {
        value = Mutex(mode)
    }
}
