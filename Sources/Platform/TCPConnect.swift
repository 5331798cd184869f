#if canImport(Glibc)
import Glibc
#endif

/// Why a TCP connection could not be made, in words.
public struct ConnectionError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, naming the address.
    public let description: String

    /// An error saying `description`.
    public init(_ description: String) {
        self.description = description
    }
}

/// A blocking TCP connection to `host`:`port` made within `timeoutSeconds`, with send and receive timeouts of the same
/// length and Nagle off (every client of this project sends small messages it wants delivered now).
public func connectTCP(host: String, port: Int, timeoutSeconds: Int = 5) throws(ConnectionError) -> Int32 {
    var hints = addrinfo()
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var list: UnsafeMutablePointer<addrinfo>?
    let rc = getaddrinfo(host, String(port), &hints, &list)
    guard rc == 0, let first = list else { throw ConnectionError("cannot resolve '\(host)': \(String(cString: gai_strerror(rc)))") }
    defer { freeaddrinfo(list) }
    var lastError = "no address"
    var entry: UnsafeMutablePointer<addrinfo>? = first
    while let a = entry {
        entry = a.pointee.ai_next
        let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), a.pointee.ai_protocol)
        guard fd >= 0 else { continue }
        if Glibc.connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) != 0 && errno != EINPROGRESS {
            lastError = String(cString: strerror(errno))
            Glibc.close(fd)
            continue
        }
        var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        let ready = retryingEINTR { poll(&p, 1, Int32(timeoutSeconds * 1000)) }
        var soError: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length)
        guard ready == 1, soError == 0 else {
            lastError = ready == 0 ? "no answer within \(timeoutSeconds) s" : String(cString: strerror(soError))
            Glibc.close(fd)
            continue
        }
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags & ~Int32(O_NONBLOCK))
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return fd
    }
    throw ConnectionError("cannot connect to \(host):\(port): \(lastError)")
}
