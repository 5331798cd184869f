import Frames
import Platform

/// A camera that plays a Y4M file in a loop at the file's own rate: real footage for tests,
/// benchmarks and trying the product without a camera (`--camera street=file:street.y4m`).
public final class FileSource: FrameSource, @unchecked Sendable {
    /// Camera id.
    public let cameraID: String
    /// The file.
    public let path: String
    /// Size and rate, from the file's header.
    public let geometry: FrameGeometry
    /// Counters.
    public let stats = SourceStats()
    private let pool: BufferPool
    private let worker = Worker()

    /// Opens `path` (the header must be readable now).
    public init(cameraID: String, path: String, poolSize: Int = 8) throws(CaptureError) {
        let file = try Y4MFile(path: path)
        self.cameraID = cameraID
        self.path = path
        geometry = FrameGeometry(width: file.width, height: file.height, fps: file.fps)
        pool = BufferPool(count: poolSize, bytesPerBuffer: file.frameBytes)
    }

    /// Reads only the size and rate of a Y4M file.
    public static func geometry(of path: String) throws(CaptureError) -> FrameGeometry {
        let file = try Y4MFile(path: path)
        return FrameGeometry(width: file.width, height: file.height, fps: file.fps)
    }

    /// `file PATH WxH@FPS`.
    public var description: String { "file \(path) \(geometry)" }

    /// Starts the reading thread.
    public func start(sink: @escaping @Sendable (RawFrame) -> Void) throws {
        let file = try Y4MFile(path: path)
        let box = UncheckedSendable(file)
        try worker.start(name: "cap-\(cameraID)", source: description) { [self] in run(box.value, sink: sink) }
    }

    /// Stops the reading thread and waits for it.
    public func stop() {
        worker.stop()
    }

    private func run(_ file: Y4MFile, sink: @Sendable (RawFrame) -> Void) {
        var pacer = FramePacer(fps: geometry.fps)
        var sequence: UInt64 = 0
        while let slot = pacer.next(while: { worker.isRunning }) {
            stats.late.add(slot.missed, ordering: .relaxed)
            sequence += slot.missed
            guard let buffer = pool.acquire() else {
                stats.droppedNoBuffer.add(1, ordering: .relaxed)
                if file.next() == nil { file.rewind() }  // the clip goes on at its pace
                sequence += 1
                continue
            }
            // Read straight into the pooled buffer; at the end of the file, loop.
            let target = UnsafeMutableRawBufferPointer(start: buffer.bytes, count: buffer.count)
            if !file.read(into: target) {
                file.rewind()
                guard file.read(into: target) else {
                    buffer.release()
                    return
                }
            }
            let planes = buffer.planes(format: .yuv420, width: geometry.width, height: geometry.height)
            let frame = RawFrame(format: .yuv420, width: geometry.width, height: geometry.height, planes: planes, sequence: sequence,
                                 time: .at(monotonicNanos: slot.due), storage: buffer)
            sequence += 1
            stats.captured.add(1, ordering: .relaxed)
            sink(frame)
        }
    }
}
