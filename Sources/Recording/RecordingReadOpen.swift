#if canImport(Glibc)
import Glibc
#endif

/// Opens a recording for reading under the name it was listed by, or under its finished name.
enum RecordingReadOpen {
    /// A read-only descriptor for `path`, or -1 with `errno` set. A `….part` path (a file listed while it was being
    /// written) that has been finished and renamed since is opened under its finished name: a reader that lists the
    /// writing segment a moment before it rotates would otherwise lose that segment's seconds.
    static func open(_ path: String) -> Int32 {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd < 0, errno == ENOENT, path.hasSuffix(MP4File.partSuffix) else { return fd }
        let finished = Glibc.open(String(path.dropLast(MP4File.partSuffix.count)), O_RDONLY | O_CLOEXEC)
        if finished < 0 { errno = ENOENT }  // the error names the path asked for
        return finished
    }
}
