import CShims
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

/// Writes every byte of `pieces`, in order, at the file's current offset, in as few `writev` calls as the kernel allows
/// (at most 1024 pieces each, Linux's `UIO_MAXIOV`, which Glibc's module does not export as `IOV_MAX`; a short write goes on where it stopped). 0, or the errno of the failure (EIO when the
/// kernel wrote nothing and gave no error).
public func writeFully(_ fd: Int32, _ pieces: [UnsafeRawBufferPointer]) -> Int32 {
    var vectors = pieces.filter { $0.count > 0 }.map { iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.baseAddress), iov_len: $0.count) }
    var first = 0
    while first < vectors.count {
        let batch = min(vectors.count - first, 1024)
        var n = vectors.withUnsafeBufferPointer { all in retryingEINTR { writev(fd, all.baseAddress! + first, Int32(batch)) } }
        guard n > 0 else { return n == 0 ? EIO : errno }
        // Skip what was written: whole pieces, then the written start of the piece the write stopped in.
        while n > 0, n >= vectors[first].iov_len {
            n -= vectors[first].iov_len
            first += 1
        }
        if n > 0 {
            vectors[first].iov_base += n
            vectors[first].iov_len -= n
        }
    }
    return 0
}

/// A small `/proc` or `/sys` file's text without trailing NULs, spaces and line breaks (nil when it cannot be read).
public func readSystemFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = retryingEINTR { read(fd, &chunk, chunk.count) }
        if n < 0 { return nil }
        if n == 0 { break }
        bytes += chunk[..<n]
    }
    while let last = bytes.last, last == 0 || last == 10 || last == 32 { bytes.removeLast() }
    return String(decoding: bytes, as: UTF8.self)
}

/// Writes `text` to a `/sys` attribute (the kernel takes it in one write); the error's text when it refuses.
@discardableResult
public func writeSystemFile(_ path: String, _ text: String) -> String? {
    let fd = open(path, O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else { return String(cString: strerror(errno)) }
    defer { close(fd) }
    let bytes = Array(text.utf8)
    let n = retryingEINTR { write(fd, bytes, bytes.count) }
    return n == bytes.count ? nil : String(cString: strerror(errno))
}

/// Renames the synced file open as `fd` from `from` to `to` so that the new name survives a power cut on every
/// filesystem: the file is fsynced once more after the rename, then its folder. On FAT (vfat, exFAT: what many SD
/// cards come formatted with) a rename writes the new directory entry with size 0 and no first cluster, and only the
/// file's own inode write fills them in: a folder sync alone left finished segments as 0-byte files after a cut.
/// Nil, or the call that failed and its errno.
public func durableRename(fd: Int32, from: String, to: String, directory: String) -> (call: String, errno: Int32)? {
    guard rename(from, to) == 0 else { return ("rename", errno) }
    guard fsync(fd) == 0 else { return ("fsync", errno) }
    syncDirectory(directory)
    return nil
}

/// fsyncs a directory so that a file created, renamed or removed in it survives a power cut.
public func syncDirectory(_ path: String) {
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { return }
    _ = fsync(fd)
    close(fd)
}

/// Anonymous memory the kernel lends page by page: `count` bytes rounded up to whole pages, zero until written; nil
/// when the kernel refuses. Pages can be handed back (`releasePages`) without unmapping.
public func mapPages(_ count: Int) -> (base: UnsafeMutableRawPointer, count: Int)? {
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    let rounded = (count + page - 1) / page * page
    guard let base = mmap(nil, rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), base != MAP_FAILED else { return nil }
    return (base, rounded)
}

/// Unmaps what `mapPages` returned.
public func unmapPages(_ base: UnsafeMutableRawPointer, count: Int) {
    munmap(base, count)
}

/// Gives the pages of a `mapPages` region back to the kernel: they stop counting as resident and read as zero when
/// next touched.
public func releasePages(_ base: UnsafeMutableRawPointer, count: Int) {
    _ = madvise(base, count, MADV_DONTNEED)
}

/// Keeps this process's memory in small pages: x264 asks for 2 MB transparent huge pages for its frame buffers on
/// x86-64 (not on arm64), which hold memory the encoder never touches. False when the kernel refuses.
@discardableResult
public func disableTransparentHugePages() -> Bool {
    blackbox_disable_transparent_huge_pages() == 0
}

/// How many pages of a mapped region are resident now: in memory, or for a file in the page cache (the kernel's `mincore`).
public func residentPages(_ base: UnsafeMutableRawPointer, count: Int) -> Int {
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    var vector = [UInt8](repeating: 0, count: (count + page - 1) / page)
    guard mincore(base, count, &vector) == 0 else { return 0 }
    return vector.reduce(0) { $0 + Int($1 & 1) }
}
