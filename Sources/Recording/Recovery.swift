#if canImport(Glibc)
import Platform
import Glibc
#endif

/// What start-up recovery did with one unfinished segment.
public struct RecoveryReport: Sendable {
    /// The `.part` file found.
    public var partPath: String
    /// Where the repaired file now is (nil when it held no readable frame and was removed).
    public var finalPath: String?
    /// Seconds of video kept.
    public var seconds: Double
    /// Frames kept.
    public var frames: Int
    /// Bytes cut off after the last complete fragment.
    public var bytesCut: Int
}

/// Repairs segments left unfinished by a crash or power cut.
public enum Recovery {
    /// Recovers every `.mp4.part` below `root` (symlinks are not followed).
    public static func recoverAll(root: String) -> [Result<RecoveryReport, RecordingError>] {
        RecordingsTree.files(under: root).filter(\.isPartial).map { file in
            Result { () throws(RecordingError) in try recover(partPath: file.path) }
        }
    }

    /// Cuts `partPath` back to its last complete fragment, records its duration, syncs it and renames
    /// it to its final name. A file without a single complete fragment holds no readable frame and is removed.
    public static func recover(partPath: String) throws(RecordingError) -> RecoveryReport {
        let scan = try MP4Reader.scan(path: partPath)
        let directory = parentFolder(partPath)
        guard let _ = scan.initEnd, !scan.fragments.isEmpty else {
            guard unlink(partPath) == 0 else { throw RecordingError(errno: errno, "unlink", partPath) }
            syncDirectory(directory)
            return RecoveryReport(partPath: partPath, finalPath: nil, seconds: 0, frames: 0, bytesCut: scan.fileSize)
        }
        let fd = open(partPath, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw RecordingError(errno: errno, "open", partPath) }
        defer { close(fd) }
        if scan.validEnd < scan.fileSize {
            guard ftruncate(fd, off_t(scan.validEnd)) == 0 else { throw RecordingError(errno: errno, "truncate", partPath) }
        }
        if let field = scan.durationFieldOffset {
            try MP4File.writeDuration(fd: fd, at: field, ticks: scan.endTime, timescale: scan.timescale, path: partPath)
        }
        guard fdatasync(fd) == 0 else { throw RecordingError(errno: errno, "fdatasync", partPath) }
        let finalPath = uniquePath(String(partPath.dropLast(MP4File.partSuffix.count)), checkingPart: false)
        try renameDurably(fd: fd, from: partPath, to: finalPath, directory: directory)
        return RecoveryReport(partPath: partPath, finalPath: finalPath, seconds: scan.duration, frames: scan.frameCount,
                              bytesCut: scan.fileSize - scan.validEnd)
    }

    /// `path`, or `name-1.mp4`, `name-2.mp4`, … if taken (also by a `.part` when `checkingPart`).
    static func uniquePath(_ path: String, checkingPart: Bool = true) -> String {
        var candidate = path
        var n = 1
        var st = stat()
        while lstat(candidate, &st) == 0 || (checkingPart && lstat(candidate + MP4File.partSuffix, &st) == 0) {
            candidate = String(path.dropLast(4)) + "-\(n).mp4"
            n += 1
        }
        return candidate
    }
}
