import Frames
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// A regular file found under the recordings root.
public struct RecordingFile: Sendable, Equatable {
    /// Full path (root joined with `relative`).
    public var path: String
    /// Path below the root, e.g. `front/2026-11-24/20261124-101500_front.mp4`.
    public var relative: String
    /// Size in bytes.
    public var size: Int
    /// Space used on disk in bytes.
    public var allocated: Int
    /// Modification time, seconds since the epoch.
    public var modified: Int

    /// Whether it is an event clip (under `events/`).
    public var isEvent: Bool { relative.hasPrefix("events/") }
    /// Whether it is a finished recording.
    public var isVideo: Bool { relative.hasSuffix(".mp4") }
    /// Whether it is a segment still being written (or cut off by a crash).
    public var isPartial: Bool { relative.hasSuffix(".mp4.part") }
    /// Camera id from the path (`events/<camera>/…` or `<camera>/…`).
    public var camera: String {
        let parts = relative.split(separator: "/")
        return String((isEvent ? parts.dropFirst() : parts[...]).first ?? "")
    }
    /// Day folder from the path (`YYYY-MM-DD`, local time of the start).
    public var day: String {
        let parts = relative.split(separator: "/")
        let rest = isEvent ? parts.dropFirst(2) : parts.dropFirst(1)
        return rest.count > 1 ? String(rest.first!) : ""
    }
}

/// Walks the recordings root without following symlinks: a link (to a file or a folder) is never
/// entered, listed or deleted, so nothing outside the root can be reached through one.
public enum RecordingsTree {
    /// Marker file that exempts a recording from automatic deletion.
    public static let protectedSuffix = ".protected"

    /// Every regular file below `root`, depth-first (at most 6 levels deep).
    public static func files(under root: String) -> [RecordingFile] {
        var out: [RecordingFile] = []
        walk(root, relative: "", depth: 0, into: &out)
        return out
    }

    private static func walk(_ dir: String, relative: String, depth: Int, into out: inout [RecordingFile]) {
        guard depth < 6 else { return }
        for name in Directory.entries(dir) {
            let path = dir + "/" + name
            let rel = relative.isEmpty ? name : relative + "/" + name
            var st = stat()
            guard lstat(path, &st) == 0 else { continue }
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                walk(path, relative: rel, depth: depth + 1, into: &out)
            case S_IFREG:
                out.append(RecordingFile(path: path, relative: rel, size: Int(st.st_size), allocated: Int(st.st_blocks) * 512,
                                         modified: Int(st.st_mtim.tv_sec)))
            default:
                continue  // symlinks, devices, sockets: never followed, never touched
            }
        }
    }

    /// Resolves a relative recording path from a request to a regular file inside `root`, or nil.
    /// Refuses absolute paths, `..`, empty or hidden components and any symlink on the way.
    public static func resolve(_ relative: String, under root: String) -> String? {
        let parts = relative.split(separator: "/", omittingEmptySubsequences: false)
        guard !relative.isEmpty, !relative.hasPrefix("/"), parts.count <= 6,
              parts.allSatisfy({ !$0.isEmpty && !$0.hasPrefix(".") && !$0.contains("\0") }) else { return nil }
        var path = root
        for (i, part) in parts.enumerated() {
            path += "/" + part
            var st = stat()
            guard lstat(path, &st) == 0 else { return nil }
            let kind = st.st_mode & S_IFMT
            // Only a file the recorder could have written: a hard link (to /etc/passwd, say) has
            // more than one name, and a file of another owner was not written by this process.
            if i == parts.count - 1 { return kind == S_IFREG && st.st_nlink == 1 && st.st_uid == geteuid() ? path : nil }
            guard kind == S_IFDIR else { return nil }
        }
        return nil
    }

    /// Whether `path` carries the protected marker.
    public static func isProtected(_ path: String) -> Bool {
        var st = stat()
        return lstat(path + protectedSuffix, &st) == 0
    }

    /// Sets or clears the protected marker of the recording at `path`.
    public static func setProtected(_ path: String, _ on: Bool) throws(RecordingError) {
        let marker = path + protectedSuffix
        if on {
            let fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
            guard fd >= 0 else { throw RecordingError(errno: errno, "create", marker) }
            close(fd)
        } else if unlink(marker) != 0 && errno != ENOENT {
            throw RecordingError(errno: errno, "unlink", marker)
        }
    }
}

/// The recordings folder itself.
public enum RecordingsRoot {
    /// Creates `root` (and parents) if missing and checks it is a writable folder.
    public static func create(_ root: String) throws(RecordingError) {
        try makeDirectories(root, followLinks: true)
        guard access(root, W_OK | X_OK) == 0 else { throw RecordingError(errno: errno, "write access to", root) }
    }
}
