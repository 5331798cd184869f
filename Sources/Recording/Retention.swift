import Frames
import Logging
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
}

/// Loop overwrite: keeps the recordings under their quota and the disk above a free-space floor by
/// deleting the oldest recordings first. Only regular `.mp4` files found by walking the root without
/// following links are ever deleted (with their markers); protected and open files never are.
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

    private let lock = Mutex<Estimate>(Estimate())
    private let rates = Mutex<[String: Double]>([:])
    private let lastUsage = Mutex<DiskUsage?>(nil)

    // Usage as of the last walk plus what was written since, so that most checks need no walk.
    private struct Estimate {
        var used = 0
        var lastWalk: UInt64 = 0
        var valid = false
    }

    private let logger: Logger?

    /// Creates the policy for `root`; deletions are logged to `logger`.
    public init(root: String, quota: Quota, minFreeBytes: Int, eventShare: Double = 0.3, reserveMinutes: Double = 5, logger: Logger? = nil) {
        self.logger = logger
        self.root = root
        self.quota = quota
        self.minFreeBytes = minFreeBytes
        self.eventShare = eventShare
        self.reserveMinutes = reserveMinutes
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

    /// The floor in bytes: the configured minimum or `reserveMinutes` of recording (capped at a
    /// quarter of the filesystem, so a small card is not emptied), whichever is larger.
    func floorBytes(filesystemSize: Int) -> Int {
        let rate = rates.withLock { $0.values.reduce(0, +) }
        return max(minFreeBytes, min(Int(rate * reserveMinutes * 60), filesystemSize / 4))
    }

    /// Called before `bytes` are written: deletes the oldest recordings first if the write would take
    /// usage over the quota or free space under the floor. Cheap unless something must go.
    public func makeRoom(for bytes: Int, inUse: Set<String>) {
        let pages = (bytes + 4095) / 4096 * 4096
        let fs = filesystem()
        let quotaBytes = quota.bytes(ofFilesystem: fs.total)
        let floor = floorBytes(filesystemSize: fs.total)
        let needsWalk = lock.withLock { e -> Bool in
            let stale = MonotonicClock.nanos() &- e.lastWalk > 30_000_000_000
            return !e.valid || stale || e.used + pages > quotaBytes || fs.free - pages < floor
        }
        if needsWalk { enforce(inUse: inUse, incoming: pages) }
        lock.withLock { $0.used += pages }
    }

    /// The last measured usage (nil before the first pass).
    public var usage: DiskUsage? { lastUsage.withLock { $0 } }

    /// Deletes the oldest deletable recordings until usage and free space are within limits.
    /// `inUse` are paths being written. Returns the deleted paths.
    @discardableResult
    public func enforce(inUse: Set<String> = [], incoming: Int = 0) -> [String] {
        lock.withLock { estimate in
            let files = RecordingsTree.files(under: root)
            var fs = filesystem()
            let quotaBytes = quota.bytes(ofFilesystem: fs.total) - incoming
            let floor = floorBytes(filesystemSize: fs.total) + incoming
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
            var deleted: [String] = []

            func remove(_ file: RecordingFile) {
                guard unlink(file.path) == 0 else { return }
                deleted.append(file.path)
                logger?.info("loop overwrite: deleted oldest recording", metadata: ["file": "\(file.relative)", "bytes": "\(file.size)"])
                used -= file.allocated
                fs.free += file.allocated
                if file.isEvent { sharedEvents -= file.allocated }
            }

            // Event clips have their own share of the quota.
            for file in candidates where file.isEvent && sharedEvents > eventQuota {
                remove(file)
            }
            let gone = Set(deleted)
            candidates.removeAll { gone.contains($0.path) }
            // Then the oldest normal segments, and event clips only when no segment is left.
            let order = candidates.filter { !$0.isEvent } + candidates.filter(\.isEvent)
            for file in order where used > quotaBytes || fs.free < floor {
                remove(file)
            }
            // `used` was kept up to date while deleting; free space is read again from the filesystem.
            if !deleted.isEmpty { fs = filesystem() }
            let removed = Set(deleted)
            let events = files.filter { $0.isEvent && !removed.contains($0.path) }.reduce(0) { $0 + $1.allocated }
            estimate = Estimate(used: used, lastWalk: MonotonicClock.nanos(), valid: true)
            lastUsage.withLock {
                $0 = DiskUsage(usedBytes: used, eventBytes: events, freeBytes: fs.free, totalBytes: fs.total,
                               quotaBytes: quotaBytes + incoming, floorBytes: floor - incoming)
            }
            return deleted
        }
    }
}
