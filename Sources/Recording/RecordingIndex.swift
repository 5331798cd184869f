import Encoding
import Foundation
import Frames
import Platform
import Synchronization

/// A segment or an event clip.
public enum RecordingKind: String, Codable, Sendable {
    /// Continuous recording.
    case segment
    /// An event clip.
    case event
}

/// One recording as the timeline sees it: where it is and which wall-clock span it covers.
public struct IndexedRecording: Codable, Sendable, Equatable {
    /// Path below the root, by its final name (a segment being written is listed without `.part`).
    public var path: String
    /// Camera id.
    public var camera: String
    /// Segment or event clip.
    public var kind: RecordingKind
    /// Wall-clock start of the first frame, Unix nanoseconds.
    public var start: Int64
    /// Wall-clock end of the last frame, Unix nanoseconds.
    public var end: Int64
    /// Codec.
    public var codec: VideoCodec
    /// Size in bytes.
    public var size: Int
    /// Modification time (seconds): with the size, tells whether the entry is still true.
    public var modified: Int
    /// Still being written (a `.part`).
    public var writing: Bool
    /// An event clip's reason.
    public var reason: String?
    /// Whether it has a sound track (nil in an index written before sound was recorded).
    public var sound: Bool?
    /// normal, event, parking or manual, from the file name (nil in an index written before files had one).
    public var type: FileKind?
}

/// Which recordings cover which time, per camera: cheap for a day with thousands of files. Entries are
/// read from each file's head once per version of the file (its size and time), checked against the
/// day folders at every query (one directory listing and stat per file, no file reads), and kept in
/// `.blackbox/index.json` across restarts. A file changed, added or removed underneath is seen at the next query.
public final class RecordingIndex: Sendable {
    /// Recordings root.
    public let root: String
    private let path: String
    private struct State {
        var entries: [String: IndexedRecording] = [:]
        var dirty = false
        var savedAt = Date.distantPast
        var saving = false
    }
    /// Least time between two saves: the index is rebuilt from the files anyway, and SD cards wear.
    static let saveInterval: TimeInterval = 1800
    private let state = Mutex(State())

    /// An index of `root`, loaded from its saved copy when there is one.
    public init(root: String) {
        self.root = root
        path = root + "/.blackbox/index.json"
        if let data = FileManager.default.contents(atPath: path),
           let saved = try? JSONDecoder().decode([IndexedRecording].self, from: data) {
            state.withLock { s in for e in saved { s.entries[e.path + (e.writing ? MP4File.partSuffix : "")] = e } }
        }
    }

    /// Recordings of `camera` (segments, event clips or both) overlapping [`from`, `to`), by start time.
    public func recordings(camera: String, kind: RecordingKind? = nil, from: Int64, to: Int64) -> [IndexedRecording] {
        // A file lives in the folder of the local day it started: look one day back for one that began before midnight.
        var days: [String] = []
        var t = Int(from / 1_000_000_000) - 86_400
        let last = LocalTime.stamp(Int(to / 1_000_000_000)).day
        while true {
            let day = LocalTime.stamp(t).day
            if days.last != day { days.append(day) }
            if day >= last { break }
            t += 86_400 / 2
        }
        var folders: [(String, RecordingKind)] = []
        for day in days {
            if kind != .event { folders.append(("\(camera)/\(day)", .segment)) }
            if kind != .segment { folders.append(("events/\(camera)/\(day)", .event)) }
        }
        var found: [IndexedRecording] = []
        var seen = Set<String>()
        for (folder, kind) in folders {
            for name in Directory.entries("\(root)/\(folder)") where name.hasSuffix(".mp4") || name.hasSuffix(".mp4.part") {
                let relative = "\(folder)/\(name)"
                // A file listed while it was written and finished since is taken under its finished name: a segment
                // rotating during a query would otherwise be missing from the answer.
                let part = relative.hasSuffix(MP4File.partSuffix)
                guard let entry = entry(relative, camera: camera, kind: kind)
                        ?? (part ? entry(String(relative.dropLast(MP4File.partSuffix.count)), camera: camera, kind: kind) : nil),
                      seen.insert(entry.path).inserted, entry.end > from, entry.start < to else { continue }
                found.append(entry)
            }
        }
        // Saving is file I/O the answer need not wait for.
        if state.withLock({ $0.dirty && !$0.saving && Date().timeIntervalSince($0.savedAt) > Self.saveInterval }) {
            DispatchQueue.global(qos: .utility).async { self.save(now: false) }
        }
        return found.sorted { ($0.start, $0.path) < ($1.start, $1.path) }
    }

    /// Days (local, YYYY-MM-DD) that hold recordings of `camera` (of any camera when nil), newest first.
    public func days(camera: String? = nil) -> [String] {
        var days = Set<String>()
        let cameras = camera.map { [$0] } ?? Directory.entries(root).filter { !$0.hasPrefix(".") && $0 != "events" }
        for c in cameras {
            for base in ["\(root)/\(c)", "\(root)/events/\(c)"] {
                for day in Directory.entries(base) where day.count == 10 && day.allSatisfy({ $0.isNumber || $0 == "-" }) { days.insert(day) }
            }
        }
        return days.sorted(by: >)
    }

    /// The entry for the file at `relative`, read again when it changed; nil when it is not a readable recording.
    private func entry(_ relative: String, camera: String, kind: RecordingKind) -> IndexedRecording? {
        var st = stat()
        guard lstat("\(root)/\(relative)", &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return nil }
        let size = Int(st.st_size), modified = Int(st.st_mtim.tv_sec)
        if let e = state.withLock({ $0.entries[relative] }), e.size == size, e.modified == modified { return e }
        let writing = relative.hasSuffix(MP4File.partSuffix)
        // A finished file states its duration in its head; a file being written is read to its last whole fragment.
        guard let scan = try? MP4Reader.scan(path: "\(root)/\(relative)", maxFragments: writing ? .max : 1),
              let first = scan.fragments.first else { return nil }
        let start = scan.wallStart(of: first)
        let stated = writing || scan.statedDuration == 0 ? scan.duration : scan.statedDuration
        // At most a day, never NaN: a damaged head may state anything.
        let seconds = stated.isFinite ? min(max(stated, 0), 86_400) : 0
        let entry = IndexedRecording(path: writing ? String(relative.dropLast(MP4File.partSuffix.count)) : relative, camera: camera, kind: kind, start: start,
                                     end: start &+ Int64(seconds * 1e9), codec: scan.codec, size: size, modified: modified, writing: writing,
                                     reason: kind == .event ? scan.comment : nil, sound: scan.sound != nil, type: FileKind.of(relative))
        state.withLock { s in
            if s.entries.count > 200_000 { s.entries.removeAll() }
            s.entries[relative] = entry
            s.dirty = true
        }
        return entry
    }

    /// Writes the index to `.blackbox/index.json` when it changed (atomically) and, unless `now`, the last
    /// save is older than `saveInterval`. Entries of files gone and of files being written are left out.
    public func save(now: Bool = true) {
        let entries: [IndexedRecording]? = state.withLock { s in
            guard s.dirty, !s.saving, now || Date().timeIntervalSince(s.savedAt) > Self.saveInterval else { return nil }
            s.dirty = false
            s.saving = true
            s.savedAt = Date()
            return s.entries.values.filter { !$0.writing }
        }
        guard let entries else { return }
        defer { state.withLock { $0.saving = false } }
        var st = stat()
        let alive = entries.filter { lstat("\(root)/\($0.path)", &st) == 0 }
        guard let data = try? JSONEncoder().encode(alive) else { return }
        let temporary = path + ".new"
        guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o600]),
              rename(temporary, path) == 0 else {
            unlink(temporary)
            return
        }
    }
}
