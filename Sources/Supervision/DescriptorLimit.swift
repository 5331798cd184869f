#if canImport(Glibc)
import Glibc
#endif

/// The process's open-file limit: raised at start so that clients and recordings both fit.
public enum DescriptorLimit {
    /// The most the soft limit is raised to (connections are capped well below it anyway).
    public static let ceiling: rlim_t = 65536

    /// Raises the soft limit of open files to the hard limit (at most `ceiling`); returns the soft
    /// limit before and after.
    @discardableResult
    public static func raise() -> (before: Int, after: Int) {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return (1024, 1024) }
        let before = limit.rlim_cur
        let target = min(limit.rlim_max, ceiling)
        if target > limit.rlim_cur {
            limit.rlim_cur = target
            if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) != 0 { limit.rlim_cur = before }
        }
        return (Int(clamping: before), Int(clamping: limit.rlim_cur))
    }
}
