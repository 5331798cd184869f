import Platform
import Synchronization

/// A fixed set of equally sized pixel buffers, mapped once at start.
///
/// Sources take a buffer per frame and the encoder gives it back; when none is free the frame is
/// dropped (and counted by the caller) rather than allocating more: memory stays flat for a year. The buffer given back
/// last is lent first: buffers only a burst needs are never touched, so their pages never become resident; and a buffer
/// a burst did touch (the encoder starting, a stall) gives its pages back to the kernel once `idleLends` frames have
/// passed without it, so one burst does not hold its memory for the rest of the year.
public final class BufferPool: Sendable {
    /// One buffer of the pool; releasing it puts it back.
    public final class Buffer: FrameStorage, @unchecked Sendable {
        /// Start of the buffer's memory (page-aligned).
        public let bytes: UnsafeMutableRawPointer
        /// Size in bytes.
        public let count: Int
        fileprivate let mappedCount: Int
        fileprivate weak var pool: BufferPool?
        fileprivate let index: Int

        fileprivate init(bytes: UnsafeMutableRawPointer, count: Int, mappedCount: Int, index: Int) {
            self.bytes = bytes
            self.count = count
            self.mappedCount = mappedCount
            self.index = index
        }

        /// Returns this buffer to its pool.
        public func release() { pool?.giveBack(index) }

        /// The daemon's own memory: a consumer may keep it while it encodes.
        public var mayBeKept: Bool { true }
    }

    /// What the pool knows of each buffer, under one lock: lent or not, when it was last lent (counted in lends), and
    /// whether its pages may be resident.
    private struct Ledger {
        var lent: [Bool]
        var lastLent: [Int]
        var touched: [Bool]
        var lends = 0
    }

    /// Lends after which a buffer not lent in all of them gives its pages back (about 8 s at 30 fps).
    public static let idleLends = 256

    private let buffers: [Buffer]
    private let free: BoundedQueue<Int>
    private let ledger: Mutex<Ledger>

    /// Maps `count` buffers of `bytesPerBuffer` bytes each (pages become resident only when written).
    public init(count: Int, bytesPerBuffer: Int) {
        precondition(count > 0 && bytesPerBuffer > 0)
        var made: [Buffer] = []
        for i in 0..<count {
            guard let pages = mapPages(bytesPerBuffer) else { fatalError("out of address space for \(count) buffers of \(bytesPerBuffer) bytes") }
            made.append(Buffer(bytes: pages.base, count: bytesPerBuffer, mappedCount: pages.count, index: i))
        }
        buffers = made
        ledger = Mutex(Ledger(lent: Array(repeating: false, count: count), lastLent: Array(repeating: 0, count: count),
                              touched: Array(repeating: false, count: count)))
        free = BoundedQueue(capacity: count, order: .newestFirst)
        for i in 0..<count { _ = free.offer(i) }
        for b in made { b.pool = self }
    }

    deinit {
        for b in buffers { unmapPages(b.bytes, count: b.mappedCount) }
    }

    /// Number of buffers in the pool.
    public var capacity: Int { buffers.count }

    /// Number of buffers not currently lent out.
    public var available: Int { free.count }

    /// Buffers whose pages may be resident: lent at least once since they were last given back to the kernel.
    public var touched: Int { ledger.withLock { $0.touched.filter { $0 }.count } }

    /// Takes a free buffer, or nil when all are in use (never blocks, never allocates).
    public func acquire() -> Buffer? {
        free.tryTake().map(lend)
    }

    /// Takes a free buffer, waiting for one to come back; for producers allowed to wait (benchmarks).
    public func acquireWaiting() -> Buffer? {
        free.take().map(lend)
    }

    /// Marks buffer `index` lent; every `idleLends` lends, gives back the pages of free buffers not lent since.
    private func lend(_ index: Int) -> Buffer {
        ledger.withLock { ledger in
            ledger.lends += 1
            ledger.lent[index] = true
            ledger.touched[index] = true
            ledger.lastLent[index] = ledger.lends
            guard ledger.lends % Self.idleLends == 0 else { return }
            // Under the lock, so no buffer is lent while its pages go: one taken from the free list but not yet marked
            // lent has not been written yet.
            for (i, buffer) in buffers.enumerated() where !ledger.lent[i] && ledger.touched[i] && ledger.lends - ledger.lastLent[i] >= Self.idleLends {
                releasePages(buffer.bytes, count: buffer.mappedCount)
                ledger.touched[i] = false
            }
        }
        return buffers[index]
    }

    fileprivate func giveBack(_ index: Int) {
        ledger.withLock { $0.lent[index] = false }
        let accepted = free.offer(index)
        precondition(accepted, "buffer \(index) released twice")
    }
}

extension BufferPool.Buffer {
    /// Views this buffer as planar YUV/grey planes of the given size, packed without padding.
    public func planes(format: PixelFormat, width: Int, height: Int) -> [Plane] {
        let base = bytes.assumingMemoryBound(to: UInt8.self)
        let y = Plane(base: base, stride: width, width: width, height: height)
        switch format {
        case .grey, .jpeg:
            return [y]
        case .yuv420, .yuv422:
            let cw = (width + 1) / 2
            let ch = format == .yuv420 ? (height + 1) / 2 : height
            let u = Plane(base: base + width * height, stride: cw, width: cw, height: ch)
            let v = Plane(base: base + width * height + cw * ch, stride: cw, width: cw, height: ch)
            return [y, u, v]
        }
    }

    /// Bytes a packed planar frame of this format and size needs.
    public static func byteCount(format: PixelFormat, width: Int, height: Int) -> Int {
        let cw = (width + 1) / 2
        switch format {
        case .grey, .jpeg: return width * height
        case .yuv420: return width * height + 2 * cw * ((height + 1) / 2)
        case .yuv422: return width * height + 2 * cw * height
        }
    }
}
