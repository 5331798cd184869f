import NIOCore
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// A read-only descriptor on a segment being written, so that the event pre-roll can read its frames back from the
/// file instead of holding them in memory. It stays open while a frame of the pre-roll points into it: a segment
/// renamed or deleted (retention) meanwhile is still read whole.
final class SegmentReadBack {
    private let fd: Int32

    /// Opens `path` for reading; nil when it cannot be (the pre-roll then keeps its frames in memory).
    init?(path: String) {
        fd = RecordingReadOpen.open(path)
        guard fd >= 0 else { return nil }
    }

    deinit { close(fd) }

    /// `count` bytes at `offset`, or nil when the file no longer holds them.
    func read(offset: Int, count: Int) -> ByteBuffer? {
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        var done = 0
        while done < count {
            let n = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count - done) { target in
                max(0, retryingEINTR { pread(fd, target.baseAddress, count - done, off_t(offset + done)) })
            }
            guard n > 0 else { return nil }
            done += n
        }
        return buffer
    }
}
