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
