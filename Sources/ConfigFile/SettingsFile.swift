import Cameras
import Encoding
import Foundation
import Frames
import Recording
import TOMLKit

/// Camera settings changed in the web UI or API (`cameras.toml` beside the auth file), applied over
/// the configuration at the next start so that a power cut does not undo them.
public enum SettingsFile {
    /// Reads `path`: settings by camera id; empty when the file does not exist.
    public static func load(path: String) throws(ConfigFileError) -> [String: SavedSettings] {
        guard let table = try StateFile.load(path, what: "the saved camera settings", remedy: "it is ignored") else { return [:] }
        var out: [String: SavedSettings] = [:]
        for id in table.keys {
            guard let t = table[id]?.table, let source = t["source"]?.string, let width = t["width"]?.int, let height = t["height"]?.int,
                  let fps = t["fps"]?.int, let quality = t["quality"]?.int, let overlay = t["overlay"]?.bool else {
                throw ConfigFileError(description: "\(path): [\(id)] needs source, width, height, fps, quality and overlay")
            }
            out[id] = SavedSettings(source: source, geometry: FrameGeometry(width: width, height: height, fps: fps), quality: quality, overlay: overlay,
                                    codec: t["codec"]?.string.flatMap(VideoCodec.init(rawValue:)),
                                    mode: t["mode"]?.string.flatMap(RecordingMode.init(rawValue:)), muted: t["muted"]?.bool)
        }
        return out
    }

    /// Writes every camera's settings to `path` atomically.
    public static func save(_ settings: [String: SavedSettings], path: String) throws(ConfigFileError) {
        var text = "# Written by blackbox when camera settings change in the web UI or API; applied at start over the configuration.\n"
        for id in settings.keys.sorted() {
            let s = settings[id]!
            text += """

                [\(id)]
                source = \(StateFile.quoted(s.source))
                width = \(s.geometry.width)
                height = \(s.geometry.height)
                fps = \(s.geometry.fps)
                quality = \(s.quality)
                overlay = \(s.overlay)
                \(s.codec.map { "codec = \"\($0)\"" } ?? "")
                \(s.mode.map { "mode = \"\($0.rawValue)\"" } ?? "")
                \(s.muted.map { "muted = \($0)" } ?? "")

                """
        }
        try StateFile.save(text, to: path, what: "the camera settings")
    }
}
