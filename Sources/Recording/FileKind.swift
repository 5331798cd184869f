import Rules

/// What a recording is, as a dashcam sorts its files: continuous footage while driving, a clip an event saved, a clip
/// saved while parked, or one someone asked for (the button, the API or MQTT). It is in the file name
/// (`…_front.mp4`, `…_front_event.mp4`, `…_front_parking.mp4`, `…_front_manual.mp4`), the index, the list filter and
/// the timeline's colours. A time-lapse recorded while parked (`…_front_timelapse.mp4`, a continuous segment) is
/// parking footage too.
public enum FileKind: String, Codable, Sendable, CaseIterable {
    /// Continuous segments.
    case normal
    /// An event clip: motion, an impact, over-speed.
    case event
    /// An event clip saved while parked.
    case parking
    /// A clip someone asked for.
    case manual

    /// The kind of the file named `name` (a path or a bare name; `.part` and `-N` numbering allowed).
    public static func of(_ name: String) -> FileKind {
        let base = name.split(separator: "/").last.map(String.init) ?? name
        guard name.hasPrefix("events/") || name.contains("/events/") else {
            return base.contains("_timelapse.mp4") || base.contains("_timelapse-") ? .parking : .normal
        }
        for kind in [FileKind.parking, .manual] where base.contains("_\(kind.rawValue).mp4") || base.contains("_\(kind.rawValue)-") {
            return kind
        }
        return .event
    }

    /// Whether it is a clip (under `events/`).
    public var isClip: Bool { self != .normal }
}

extension FileKind: NamedChoice {}
