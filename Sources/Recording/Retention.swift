import Encoding
import Foundation
import Frames
import Platform
import Logging
import Rules
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A limit on how much of the disk the recordings may use.
public enum Quota: Sendable, Equatable, CustomStringConvertible {
    /// At most this many bytes.
    case bytes(Int)
    /// At most this percentage of the filesystem's size.
    case percent(Double)

    /// How the accepted spellings are said in an error.
    public static let allowed = "a size like 32G or 800M, or a share like 50%"

    /// The quota `text` names, or an error naming the setting, the value and what is allowed.
    public static func parse(_ text: String, name: String) throws(RuleError) -> Quota {
        guard let quota = Quota(text) else { throw RuleError(name: name, text: text, problem: "is not a size or a share", allowed: allowed) }
        return quota
    }

    /// Parses `50%`, `800M`, `32G`, `1T` or a number of bytes.
    public init?(_ text: String) {
        if text.hasSuffix("%") {
            guard let p = Double(text.dropLast()), p > 0, p <= 100 else { return nil }
            self = .percent(p)
        } else if let bytes = parseSize(text), bytes > 0 {
            self = .bytes(bytes)
        } else {
            return nil
        }
    }

    /// The spelling `init?(_:)` accepts.
    public var description: String {
        switch self {
        case .bytes(let b): return "\(b)"
        case .percent(let p): return "\(p)%"
        }
    }

    /// The limit in bytes on a filesystem of `total` bytes.
    public func bytes(ofFilesystem total: Int) -> Int {
        switch self {
        case .bytes(let b): return b
        case .percent(let p): return Int(Double(total) * p / 100)
        }
    }
}

/// How an accepted size is said in an error.
public let sizeAllowed = "a size like 256M or 1G"

/// The size `text` names, or an error naming the setting, the value and what is allowed.
public func parseSize(_ text: String, name: String) throws(RuleError) -> Int {
    guard let bytes = parseSize(text) else { throw RuleError(name: name, text: text, problem: "is not a size", allowed: sizeAllowed) }
    return bytes
}

/// Parses `512K`, `800M`, `32G`, `1T` (powers of 1024) or plain bytes.
public func parseSize(_ text: String) -> Int? {
    let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
    guard let last = text.uppercased().last else { return nil }
    if let unit = units[last] {
        guard let n = Double(text.dropLast()), n >= 0 else { return nil }
        return Int(n * Double(unit))
    }
    return Int(text)
}

/// What the recordings use of their disk.
public struct DiskUsage: Sendable, Codable, Equatable {
    /// Bytes used by everything under the recordings root.
    public var usedBytes: Int
    /// Bytes used by event clips.
    public var eventBytes: Int
    /// Bytes free on the filesystem (for unprivileged users).
    public var freeBytes: Int
    /// Size of the filesystem.
    public var totalBytes: Int
    /// The quota in bytes.
    public var quotaBytes: Int
    /// The free-space floor in force (configured minimum or minutes of recording, whichever is larger).
    public var floorBytes: Int
    /// Why recording cannot go on now (the floor cannot be met without deleting the newest footage,
    /// or the quota is full of protected and open files); nil while all is well.
    public var problem: String?
    /// Retention passes since the start (one about every 5 s while recording, and one per write refused for room).
    public var passes: Int = 0
}

/// Loop overwrite: keeps the recordings under their quota and the disk above a free-space floor by
/// deleting the oldest recordings first. Only regular `.mp4` files found by walking the root without
/// following links are ever deleted (with their markers); protected and open files never are.
///
/// The rules, in order:
/// - The quota holds everything under the root, protected clips and files being written included.
///   Before every write, room is made for it; when nothing may be deleted, the write is refused and
///   recording pauses (status says why) instead of going over.
/// - Event clips have a share of the quota; past it the oldest go first, never the newest clip of a camera.
/// - The free-space floor is kept by deleting the oldest recordings, but never the newest footage:
///   the last `recentSeconds` of each camera's segments and every event clip of the last
///   `recentEventSeconds`. When only those are left, the disk was filled by something else, and
///   recording pauses until there is room again.
public final class Retention: Sendable {
    /// Recordings root.
    public let root: String
    /// Quota of the whole root.
    public let quota: Quota
    /// Minimum free space, bytes.
    public let minFreeBytes: Int
    /// Share of the quota event clips may use.
    public let eventShare: Double
    /// Minutes of recording at the current bitrate that must stay free.
    public let reserveMinutes: Double
    /// Segments younger than this are never deleted to keep the free-space floor.
    public let recentSeconds: Int
    /// Event clips younger than this are never deleted to keep the free-space floor.
    public let recentEventSeconds: Int

    private let lock = Mutex<Estimate>(Estimate())
    private let rates = Mutex<[String: Double]>([:])
    private let lastUsage = Mutex<DiskUsage?>(nil)

    // Usage as of the last walk plus what was written since, so that most checks need no walk.
    private struct Estimate {
        var used = 0
        var lastWalk: UInt64 = 0
        var valid = false
        var problem: String?
    }

    private let logger: Logger?

    /// Creates the policy for `root`; deletions are logged to `logger`.
    public init(root: String, quota: Quota, minFreeBytes: Int, eventShare: Double = 0.3, reserveMinutes: Double = 5,
                recentSeconds: Int = 300, recentEventSeconds: Int = 3600, logger: Logger? = nil) {
        self.logger = logger
        self.root = root
        self.quota = quota
        self.minFreeBytes = minFreeBytes
        self.eventShare = eventShare
        self.reserveMinutes = reserveMinutes
        self.recentSeconds = recentSeconds
        self.recentEventSeconds = recentEventSeconds
    }

    /// Tells retention a camera's current recording rate, used to size the free-space floor.
    public func report(rate bytesPerSecond: Double, camera: String) {
        rates.withLock { $0[camera] = bytesPerSecond }
    }

    /// Filesystem size and free bytes of the root.
    func filesystem() -> (total: Int, free: Int) {
        var fs = statvfs()
        guard statvfs(root, &fs) == 0 else { return (0, 0) }
        return (Int(fs.f_blocks) * Int(fs.f_frsize), Int(fs.f_bavail) * Int(fs.f_frsize))
    }

    /// The configured minimum free space as applied on a filesystem of `filesystemSize` bytes: at
    /// most an eighth of it, so that the default 256 MiB does not empty a small card.
    func minimumFree(filesystemSize: Int) -> Int {
        filesystemSize > 0 ? min(minFreeBytes, filesystemSize / 8) : minFreeBytes
    }

    /// The floor in bytes: the minimum free space or `reserveMinutes` of recording (capped at a
    /// quarter of the filesystem, so a small card is not emptied), whichever is larger.
    func floorBytes(filesystemSize: Int) -> Int {
        let rate = rates.withLock { $0.values.reduce(0, +) }
        return max(minimumFree(filesystemSize: filesystemSize), min(Int(rate * reserveMinutes * 60), filesystemSize / 4))
    }

    /// The bytes event clips may use on this filesystem.
    public func eventQuotaBytes() -> Int {
        Int(Double(quota.bytes(ofFilesystem: filesystem().total)) * eventShare)
    }

    /// What is wrong with these limits on this filesystem before anything is recorded, one line each:
    /// a minimum free space larger than the filesystem allows, and an event share that cannot hold
    /// one clip of `clipBytes` (an estimate from the cameras' sizes).
    public func startupProblems(clipBytes: Int) -> [String] {
        let fs = filesystem()
        var problems: [String] = []
        if minimumFree(filesystemSize: fs.total) < minFreeBytes {
            problems.append("min_free \(mib(minFreeBytes)) cannot be kept on this \(mib(fs.total)) filesystem; keeping \(mib(minimumFree(filesystemSize: fs.total))) (an eighth) free instead")
        }
        let floor = floorBytes(filesystemSize: fs.total)
        let recordings = RecordingsTree.files(under: root).reduce(0) { $0 + $1.allocated }
        if fs.total > 0, fs.free + recordings < floor {
            problems.append("only \(mib(fs.free)) of \(mib(fs.total)) is free and the recordings hold \(mib(recordings)): the free-space floor of \(mib(floor)) cannot be met; recording pauses until other programs free space")
        }
        let share = eventQuotaBytes()
        if clipBytes > share {
            problems.append("the event clips' share of the quota (\(mib(share))) cannot hold one clip (about \(mib(clipBytes))); raise the quota or event_quota_percent, or shorten the pre/post-roll")
        }
        return problems
    }

    /// Called before `bytes` are written: deletes the oldest recordings first if the write would take
    /// usage over the quota or free space under the floor. Cheap unless something must go. Returns
    /// why the write must not happen (nothing more may be deleted), or nil when it may.
    public func makeRoom(for bytes: Int, inUse: Set<String>) -> String? {
        let pages = (bytes + 4095) / 4096 * 4096
        let fs = filesystem()
        let quotaBytes = quota.bytes(ofFilesystem: fs.total)
        let floor = floorBytes(filesystemSize: fs.total)
        let needsWalk = lock.withLock { e -> Bool in
            let stale = MonotonicClock.nanos() &- e.lastWalk > 30_000_000_000
            return !e.valid || stale || e.problem != nil || e.used + pages > quotaBytes || fs.free - pages < floor
        }
        if needsWalk { enforce(inUse: inUse, incoming: pages) }
        return lock.withLock { e -> String? in
            if e.problem == nil { e.used += pages }
            return e.problem
        }
    }

    /// The last measured usage (nil before the first pass).
    public var usage: DiskUsage? { lastUsage.withLock { $0 } }

    /// Deletes the oldest deletable recordings until usage and free space are within limits (with
    /// room for `incoming` more bytes). `inUse` are paths being written. Returns the deleted paths.
    @discardableResult
    public func enforce(inUse: Set<String> = [], incoming: Int = 0) -> [String] {
        lock.withLock { estimate in
            let files = RecordingsTree.files(under: root)
            var fs = filesystem()
            let quotaBytes = quota.bytes(ofFilesystem: fs.total)
            let floor = floorBytes(filesystemSize: fs.total)
            var used = files.reduce(0) { $0 + $1.allocated }
            let eventQuota = Int(Double(quotaBytes) * eventShare)
            let protected = Set(files.filter { $0.relative.hasSuffix(RecordingsTree.protectedSuffix) }
                .map { String($0.path.dropLast(RecordingsTree.protectedSuffix.count)) })
            // Protected clips count toward the whole quota but not the events' share: keeping some
            // must not stop new event clips from being kept.
            var sharedEvents = files.filter { $0.isEvent && !protected.contains($0.path) }.reduce(0) { $0 + $1.allocated }
            // Oldest first; among equal times, by name (names carry the start time).
            var candidates = files.filter { $0.isVideo && !inUse.contains($0.path) && !protected.contains($0.path) }
                .sorted { ($0.modified, $0.relative) < ($1.modified, $1.relative) }
            var deleted: [(file: RecordingFile, why: String)] = []
            let now = Int(Date.now.timeIntervalSince1970)

            func remove(_ file: RecordingFile, _ why: String) {
                guard unlink(file.path) == 0 else { return }
                deleted.append((file, why))
                used -= file.allocated
                fs.free += file.allocated
                if file.isEvent { sharedEvents -= file.allocated }
            }

            // Event clips have their own share of the quota; each camera's newest clip is never
            // deleted to make room for itself.
            var newestEvent: [String: String] = [:]
            for file in candidates where file.isEvent { newestEvent[file.camera] = file.path }
            let newestEvents = Set(newestEvent.values)
            for file in candidates where file.isEvent && sharedEvents > eventQuota && !newestEvents.contains(file.path) {
                remove(file, "event share")
            }
            var gone = Set(deleted.map(\.file.path))
            candidates.removeAll { gone.contains($0.path) }
            // Then the quota: the oldest normal segments, and event clips only when no segment is left.
            let order = candidates.filter { !$0.isEvent } + candidates.filter(\.isEvent)
            for file in order where used + incoming > quotaBytes {
                remove(file, "quota")
            }
            gone = Set(deleted.map(\.file.path))
            // Then the floor, sparing the newest footage: it is the reason the recorder exists.
            let recent = order.filter { file in
                !gone.contains(file.path) && now - file.modified < (file.isEvent ? recentEventSeconds : recentSeconds)
            }
            let spared = Set(recent.map(\.path))
            for file in order where !gone.contains(file.path) && !spared.contains(file.path) && fs.free - incoming < floor {
                remove(file, "free-space floor")
            }
            // Each folder a file left is synced before anything more is written. On FAT the freed clusters reach the
            // card with the next file's sync while a removed directory entry waits for its folder's: a power cut in
            // between brought a deleted clip back as an entry pointing at free clusters, or at clusters a newer file
            // had taken, which fsck then cuts from one of the two.
            // Logged once synced: a deletion reported is one a power cut cannot undo.
            for folder in Set(deleted.map { parentFolder($0.file.path) }) { syncDirectory(folder) }
            for (file, why) in deleted {
                logger?.info("loop overwrite: deleted oldest recording", metadata: ["file": "\(file.relative)", "bytes": "\(file.size)", "for": "\(why)"])
            }
            // `used` was kept up to date while deleting; free space is read again from the filesystem.
            if !deleted.isEmpty { fs = filesystem() }
            var problem: String?
            if used + incoming > quotaBytes {
                problem = "quota full: protected clips and files being written use \(mib(used)) of the \(mib(quotaBytes)) quota; unprotect clips or raise the quota"
            } else if fs.free - incoming < floor {
                let others = fs.total - fs.free - used
                problem = others > used
                    ? "disk full, not by recordings: other files use \(mib(others)), \(mib(fs.free)) is free and the floor is \(mib(floor)); the newest footage is kept and recording resumes when there is room"
                    : "disk full: the recordings (\(mib(used))) leave \(mib(fs.free)) free, under the floor of \(mib(floor)); the newest footage is kept; lower the quota"
            }
            if problem != estimate.problem {
                if let problem {
                    logger?.error("recording paused", metadata: ["problem": "\(problem)"])
                } else {
                    logger?.notice("recording can go on: there is room again")
                }
            }
            let removed = Set(deleted.map(\.file.path))
            let events = files.filter { $0.isEvent && !removed.contains($0.path) }.reduce(0) { $0 + $1.allocated }
            estimate = Estimate(used: used, lastWalk: MonotonicClock.nanos(), valid: true, problem: problem)
            lastUsage.withLock {
                $0 = DiskUsage(usedBytes: used, eventBytes: events, freeBytes: fs.free, totalBytes: fs.total,
                               quotaBytes: quotaBytes, floorBytes: floor, problem: problem, passes: ($0?.passes ?? 0) + 1)
            }
            return deleted.map(\.file.path)
        }
    }
}

/// Rough bytes per second of a camera before anything is recorded: MJPEG about 0.15 bytes per pixel
/// at quality 80 on real scenes, H.264 (CRF 23) about a sixth of that (measured on the street clip).
public func estimatedBytesPerSecond(width: Int, height: Int, fps: Int, codec: VideoCodec = .mjpeg) -> Double {
    Double(width * height) * (codec == .h264 ? 0.025 : 0.15) * Double(fps)
}

/// Bytes as MiB for messages.
func mib(_ bytes: Int) -> String {
    "\(bytes >> 20) MiB"
}
