import Frames
import Platform
#if canImport(Glibc)
import Glibc
#endif

/// A failed file operation of the recorder, with the errno, the call and the path.
public struct RecordingError: Error, CustomStringConvertible, Sendable {
    /// errno of the failed call (0 when not from a system call).
    public let code: Int32
    /// One-line explanation.
    public let description: String
    /// Retention refused the write (no room may be made); recording pauses and retries soon.
    public let isNoRoom: Bool

    /// Wraps a failed system call.
    public init(errno code: Int32, _ call: String, _ path: String) {
        self.code = code
        description = "\(call) \(path): \(String(cString: strerror(code)))"
        isNoRoom = false
    }

    /// A problem that is not a system call failure.
    public init(_ message: String) {
        code = 0
        description = message
        isNoRoom = false
    }

    /// A write retention refused, with its reason.
    public init(noRoom problem: String) {
        code = 0
        description = problem
        isNoRoom = true
    }

    /// The disk is full.
    public var isNoSpace: Bool { code == ENOSPC || code == EDQUOT }
}

/// Writes all of `bytes` at the file's current offset.
func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(RecordingError) {
    try checkWrite(bytes.withUnsafeBytes { writeFully(fd, [$0]) }, path: path)
}

/// Throws what `writeFully` returned (0 or an errno) as a write error on `path`.
func checkWrite(_ failure: Int32, path: String) throws(RecordingError) {
    if failure != 0 { throw RecordingError(errno: failure, "write", path) }
}

/// The folder part of `path` (empty for a bare name).
func parentFolder(_ path: String) -> String {
    String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
}

/// `Platform.durableRename` with its failure as a `RecordingError`.
func renameDurably(fd: Int32, from: String, to: String, directory: String) throws(RecordingError) {
    if let failure = durableRename(fd: fd, from: from, to: to, directory: directory) {
        throw RecordingError(errno: failure.errno, failure.call, failure.call == "rename" ? from : to)
    }
}

/// Creates `path` and its missing parents (mode 0755); refuses to pass through symlinks unless `followLinks`. Each
/// folder made is synced, and its parent: on FAT (no journal) a new day's folder whose entry never reached the card
/// takes every file written in it with it at a power cut, however well each file was synced.
func makeDirectories(_ path: String, followLinks: Bool = false) throws(RecordingError) {
    var current = path.hasPrefix("/") ? "" : "."
    var made: [(folder: String, parent: String)] = []
    for part in path.split(separator: "/") {
        let parent = current.isEmpty ? "/" : current
        current += "/" + part
        var st = stat()
        if (followLinks ? stat(current, &st) : lstat(current, &st)) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR else { throw RecordingError(errno: ENOTDIR, "mkdir", current) }
            continue
        }
        if mkdir(current, 0o755) != 0 {
            guard errno == EEXIST else { throw RecordingError(errno: errno, "mkdir", current) }
        } else {
            made.append((current, parent))
        }
    }
    for m in made {
        syncDirectory(m.folder)
        syncDirectory(m.parent)
    }
}
