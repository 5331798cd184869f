import Platform

/// A fixed set of equally sized pixel buffers, allocated once at start.
///
/// Sources take a buffer per frame and the encoder gives it back; when none is free the frame is
/// dropped (and counted by the caller) rather than allocating more: memory stays flat for a year. The buffer given back
/// last is lent first: buffers only a burst needs are never touched, so their pages never become resident.
public final class BufferPool: Sendable {
    /// One buffer of the pool; releasing it puts it back.
    public final class Buffer: FrameStorage, @unchecked Sendable {
        /// Start of the buffer's memory (aligned to 64 bytes).
        public let bytes: UnsafeMutableRawPointer
        /// Size in bytes.
        public let count: Int
        fileprivate weak var pool: BufferPool?
        fileprivate let index: Int

        fileprivate init(bytes: UnsafeMutableRawPointer, count: Int, index: Int) {
            self.bytes = bytes
            self.count = count
            self.index = index
        }

        /// Returns this buffer to its pool.
        public func release() { pool?.giveBack(index) }

        /// The daemon's own memory: a consumer may keep it while it encodes.
        public var mayBeKept: Bool { true }
    }

    private let buffers: [Buffer]
    private let free: BoundedQueue<Int>

    /// Allocates `count` buffers of `bytesPerBuffer` bytes each.
    public init(count: Int, bytesPerBuffer: Int) {
        precondition(count > 0 && bytesPerBuffer > 0)
        var made: [Buffer] = []
        for i in 0..<count {
            made.append(Buffer(bytes: UnsafeMutableRawPointer.allocate(byteCount: bytesPerBuffer, alignment: 64), count: bytesPerBuffer, index: i))
        }
        buffers = made
        free = BoundedQueue(capacity: count, order: .newestFirst)
        for i in 0..<count { _ = free.offer(i) }
        for b in made { b.pool = self }
    }

    deinit {
        for b in buffers { b.bytes.deallocate() }
    }

    /// Number of buffers in the pool.
    public var capacity: Int { buffers.count }

    /// Number of buffers not currently lent out.
    public var available: Int { free.count }

    /// Takes a free buffer, or nil when all are in use (never blocks, never allocates).
    public func acquire() -> Buffer? {
        free.tryTake().map { buffers[$0] }
    }

    /// Takes a free buffer, waiting for one to come back; for producers allowed to wait (benchmarks).
    public func acquireWaiting() -> Buffer? {
        free.take().map { buffers[$0] }
    }

    fileprivate func giveBack(_ index: Int) {
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
