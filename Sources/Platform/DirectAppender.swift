import CShims

#if canImport(Glibc)
import Glibc
#endif

/// Appends to a file past the page cache (O_DIRECT): each append is gathered into one reused, block-aligned buffer and
/// padded to whole blocks, so the kernel writes it to the device from there instead of copying it into new page-cache
/// pages (a recording is not read again soon, and those copies were most of the recorder's CPU). File systems that
/// cannot write past the end of a file directly (FAT) fall back to the page cache inside the kernel.
public final class DirectAppender {
    /// The alignment of offsets, lengths and the buffer: a page, which covers the logical block of SD cards and disks.
    public static let block = 4096

    private let fd: Int32
    private var buffer: UnsafeMutableRawPointer?
    private var capacity = 0
    /// Where the next append goes: the end of the file, a multiple of `block`.
    public private(set) var offset: Int

    /// Opens `path` for direct appends at `offset` (a multiple of `block`); nil where the file system refuses O_DIRECT
    /// (tmpfs, some network and FUSE file systems), which then keep the ordinary writes.
    public init?(path: String, offset: Int) {
        precondition(offset % Self.block == 0, "a direct append starts on a block boundary")
        let fd = blackbox_open_direct(path)
        guard fd >= 0 else { return nil }
        self.fd = fd
        self.offset = offset
    }

    deinit {
        close(fd)
        buffer?.deallocate()
    }

    /// The bytes of padding that bring `count` bytes to whole blocks with room for at least `minimum` (8..`block`+7 for 8).
    public static func padding(after count: Int, minimum: Int) -> Int {
        (count + minimum + block - 1) / block * block - count
    }

    /// Writes `pieces` in order, then `padding` bytes that `pad` fills (it gets them zeroed), in one write at `offset`.
    /// 0, or the errno of the failure (EIO for a short write with no error).
    public func append(_ pieces: [UnsafeRawBufferPointer], padding: Int, pad: (UnsafeMutableRawBufferPointer) -> Void) -> Int32 {
        let count = pieces.reduce(0) { $0 + $1.count }
        let total = count + padding
        precondition(total % Self.block == 0, "a direct append is whole blocks")
        if capacity < total {
            buffer?.deallocate()
            // Room for a little growth: a fragment's size varies with the picture.
            capacity = (total + total / 4 + Self.block - 1) / Self.block * Self.block
            buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: Self.block)
        }
        let out = buffer!
        var at = 0
        for piece in pieces where piece.count > 0 {
            (out + at).copyMemory(from: piece.baseAddress!, byteCount: piece.count)
            at += piece.count
        }
        (out + at).initializeMemory(as: UInt8.self, repeating: 0, count: padding)
        pad(UnsafeMutableRawBufferPointer(start: out + at, count: padding))
        var done = 0
        while done < total {
            let n = retryingEINTR { pwrite(fd, out + done, total - done, off_t(offset + done)) }
            guard n > 0 else { return n == 0 ? EIO : errno }
            done += n
        }
        offset += total
        return 0
    }
}
