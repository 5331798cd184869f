#if canImport(Glibc)
import Glibc
#endif

/// Errors starting or running a capture source; every message names the device and what to do.
public enum CaptureError: Error, CustomStringConvertible, Equatable {
    /// `start` was called on a running source.
    case alreadyRunning(String)
    /// A system call failed.
    case system(Int32, String, String)
    /// The device cannot do what was asked; the message lists what it can.
    case unsupported(String)
    /// Another process holds the device.
    case busy(String)

    /// One-line explanation.
    public var description: String {
        switch self {
        case .alreadyRunning(let s): return "\(s) is already running"
        case .system(let code, let call, let path): return "\(call) \(path): \(String(cString: strerror(code)))"
        case .unsupported(let s), .busy(let s): return s
        }
    }

    /// errno of a failed system call (0 otherwise).
    public var code: Int32 {
        if case .system(let code, _, _) = self { return code }
        return 0
    }
}
