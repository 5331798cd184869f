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
    let failure: Int32 = bytes.withUnsafeBytes { raw in
        var done = 0
        while done < raw.count {
            let n = retryingEINTR { Glibc.write(fd, raw.baseAddress! + done, raw.count - done) }
            guard n > 0 else { return n == 0 ? EIO : errno }
            done += n
        }
        return 0
    }
    if failure != 0 { throw RecordingError(errno: failure, "write", path) }
}

/// Renames the synced file open as `fd` from `from` to `to` so that the new name survives a power cut on every
/// filesystem: the file is fsynced once more after the rename, then its folder. On FAT (vfat, exFAT: what many SD
/// cards come formatted with) a rename writes the new directory entry with size 0 and no first cluster, and only the
/// file's own inode write fills them in: a folder sync alone left finished segments as 0-byte files after a cut.
func renameDurably(fd: Int32, from: String, to: String, directory: String) throws(RecordingError) {
    guard rename(from, to) == 0 else { throw RecordingError(errno: errno, "rename", from) }
    guard fsync(fd) == 0 else { throw RecordingError(errno: errno, "fsync", to) }
    syncDirectory(directory)
}

/// fsyncs a directory so that a file created, renamed or removed in it survives a power cut.
func syncDirectory(_ path: String) {
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { return }
    _ = fsync(fd)
    close(fd)
}

/// Creates `path` and its missing parents (mode 0755); refuses to pass through symlinks unless `followLinks`.
func makeDirectories(_ path: String, followLinks: Bool = false) throws(RecordingError) {
    var current = path.hasPrefix("/") ? "" : "."
    for part in path.split(separator: "/") {
        current += "/" + part
        var st = stat()
        if (followLinks ? stat(current, &st) : lstat(current, &st)) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR else { throw RecordingError(errno: ENOTDIR, "mkdir", current) }
            continue
        }
        if mkdir(current, 0o755) != 0 && errno != EEXIST { throw RecordingError(errno: errno, "mkdir", current) }
    }
}
