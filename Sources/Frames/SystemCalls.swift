#if canImport(Glibc)
import Glibc
#endif

/// Calls `body` until it does not fail with EINTR (a signal arriving mid-call is no error).
@inline(__always)
public func retryingEINTR<T: SignedInteger>(_ body: () -> T) -> T {
    while true {
        let r = body()
        if r == -1 && errno == EINTR { continue }
        return r
    }
}
