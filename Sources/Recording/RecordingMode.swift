import Rules

/// What a camera records (`[recording] mode`, `--record-mode`).
public enum RecordingMode: String, Codable, Sendable, CaseIterable {
    /// Every second, in segments, plus event clips.
    case continuous
    /// Only event clips: motion starts and extends them (parking mode, CCTV that keeps weeks on a small card).
    case motion
    /// Nothing but clips asked for through the API.
    case off
}

extension RecordingMode: NamedChoice {}
