import Frames
import Platform
import Synchronization

/// Repeats one picture as fast as the pipeline takes it, for a fixed number of frames.
///
/// Used by `blackbox bench`: every frame is copied into a pooled buffer (as the test pattern does)
/// and the source waits for a free buffer instead of dropping, so that every frame is encoded.
public final class StillImageSource: FrameSource, @unchecked Sendable {
    /// Size of the picture (fps is nominal: the source is unpaced).
    public let geometry: FrameGeometry
    /// Produced counters.
    public let stats = SourceStats()

    private let image: [UInt8]
    private let frameCount: Int
    private let pool: BufferPool
    private let worker = Worker()

    /// Creates a source that will deliver `frameCount` copies of `yuv420` (packed I420 of `geometry`'s size).
    public init(yuv420: [UInt8], geometry: FrameGeometry, frameCount: Int, poolSize: Int = 8) {
        precondition(yuv420.count == BufferPool.Buffer.byteCount(format: .yuv420, width: geometry.width, height: geometry.height))
        self.geometry = geometry
        self.image = yuv420
        self.frameCount = frameCount
        self.pool = BufferPool(count: poolSize, bytesPerBuffer: yuv420.count)
    }

    /// `still WxH`.
    public var description: String { "still \(geometry.width)x\(geometry.height)" }

    /// Starts delivering on a dedicated thread.
    public func start(sink: @escaping @Sendable (RawFrame) -> Void) throws {
        try worker.start(name: "still", source: description) { [self] in
            for sequence in 0..<frameCount {
                guard worker.isRunning, let buffer = pool.acquireWaiting() else { break }
                image.withUnsafeBytes { buffer.bytes.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                let planes = buffer.planes(format: .yuv420, width: geometry.width, height: geometry.height)
                stats.captured.add(1, ordering: .relaxed)
                sink(RawFrame(format: .yuv420, width: geometry.width, height: geometry.height, planes: planes,
                              sequence: UInt64(sequence), time: .now(), storage: buffer))
            }
        }
    }

    /// Waits until every frame has been handed to the sink.
    public func waitUntilDone() {
        worker.join()
    }

    /// Stops early and waits for the thread.
    public func stop() {
        worker.stop()
    }
}
