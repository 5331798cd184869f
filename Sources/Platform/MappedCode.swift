import CShims
#if canImport(Glibc)
import Glibc
#endif

/// The process's read-only file mappings: the code and constants of the program and its libraries.
///
/// A page fault on a file mapping maps the 64 KB around the page too ("fault-around"), and a program's functions are
/// spread over its whole text, so a daemon that runs a few MB of code keeps most of a 25 MB binary mapped (16 MB
/// resident here, of 25). Reading its mappings as random access maps only the pages touched; unmapping what start-up
/// mapped then leaves the code the daemon runs. The pages stay in the page cache, so a function used again later costs
/// a minor fault, not a read, until `dropUnmappedCache` lets them go. A fault also maps the neighbours it finds in the
/// page cache, so while the whole binary was cached (after an install, or any read of the file) 13 MB stayed mapped
/// where 6 MB were run; once the file leaves the cache, each page the daemon runs is read back alone (read at random:
/// no read-ahead), and only those are mapped.
public enum MappedCode {
    /// Marks every read-only segment of the program and its libraries as read at random and unmaps its pages; returns
    /// the bytes unmapped. A segment with private (written) pages is only marked: they hold relocated data, not the file's.
    /// The segments come from the loader's own list, walked under its lock, not from the mappings alone: a library that
    /// another thread is loading (GStreamer loads its plugins when a pipeline is first made) is first mapped whole and
    /// read-only, then its data mapped over it and relocated; unmapping such a range threw the relocated data away (a
    /// pointer read as 0x499, a crash in CI).
    @discardableResult
    public static func trim() -> Int {
        guard let smaps = readSystemFile("/proc/self/smaps") else { return 0 }
        let walk = TrimWalk(mappings: mappings(smaps))
        withExtendedLifetime(walk) {
            blackbox_each_readonly_segment({ start, end, context in
                Unmanaged<TrimWalk>.fromOpaque(context!).takeUnretainedValue().trim(start: UInt(start), end: UInt(end))
            }, Unmanaged.passUnretained(walk).toOpaque())
        }
        return walk.trimmed
    }

    /// The mappings `trim` may touch and the bytes it unmapped, handed to the loader's walk.
    private final class TrimWalk {
        let mappings: [Mapping]
        var trimmed = 0

        init(mappings: [Mapping]) { self.mappings = mappings }

        /// Trims the mappings that lie within one read-only segment.
        func trim(start: UInt, end: UInt) {
            for mapping in mappings where mapping.start >= start && mapping.end <= end {
                guard let base = UnsafeMutableRawPointer(bitPattern: mapping.start) else { continue }
                let length = Int(mapping.end - mapping.start)
                guard madvise(base, length, MADV_RANDOM) == 0, mapping.writtenBytes == 0 else { continue }
                if madvise(base, length, MADV_DONTNEED) == 0 { trimmed += mapping.residentBytes }
            }
        }
    }

    /// Drops the program file's pages that no process maps from the page cache (a hint the kernel takes at once; pages
    /// mapped now, the code the daemon runs, stay); false when the file could not be opened or the kernel refused.
    /// A binary just linked (`make run`) is still dirty in the cache, and dirty pages are not dropped: it is written
    /// back first, which costs nothing for an installed one (clean already) and only writes what the kernel would soon.
    @discardableResult
    public static func dropUnmappedCache() -> Bool {
        let fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        _ = fdatasync(fd)
        return posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0
    }

    /// One read-only file mapping of `/proc/self/smaps`.
    struct Mapping: Equatable {
        var start: UInt
        var end: UInt
        var residentBytes = 0
        /// Bytes of pages written since mapped (`Anonymous:`): relocated data, which only this mapping holds.
        var writtenBytes = 0
    }

    /// The read-only (`r-xp`, `r--p`) mappings of files in `smaps`' text, with their resident and private sizes.
    static func mappings(_ smaps: String) -> [Mapping] {
        var found: [Mapping] = []
        var current: Mapping?
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = fields.first else { continue }
            if first.contains("-"), !first.hasSuffix(":"), fields.count >= 5 {
                if let current { found.append(current) }
                current = nil
                let range = first.split(separator: "-")
                guard fields.count >= 6, fields[5].hasPrefix("/"), fields[1] == "r-xp" || fields[1] == "r--p",
                      range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16) else { continue }
                current = Mapping(start: start, end: end)
            } else if fields.count >= 2, let kB = Int(fields[1]) {
                if first == "Rss:" { current?.residentBytes = kB * 1024 }
                if first == "Anonymous:" { current?.writtenBytes = kB * 1024 }
            }
        }
        if let current { found.append(current) }
        return found
    }
}
