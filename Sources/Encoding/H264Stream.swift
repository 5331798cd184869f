import Frames
import NIOCore
import Synchronization

/// A camera's H.264 stream: raw frames are copied (as I420) into a small pool on the capture
/// thread, then overlaid and encoded by x264 on a thread of their own, in capture order. The
/// queue is bounded: when x264 falls behind, frames are dropped and counted, capture never waits.
/// An IDR picture starts every `keyframeNanos` of capture time (every fragment), and a new
/// encoder (with new parameter sets) starts whenever the picture size changes.
public final class H264Stream: Sendable {
    /// Counters, as for the JPEG encoders.
    public let stats = EncodeStats()
    /// Frames not encoded because their input format cannot be turned into I420 here (MJPEG pass-through).
    public let droppedUnsupported = Atomic<UInt64>(0)
    private let queue: BoundedQueue<RawFrame>
    private let pool: Mutex<(pool: BufferPool, width: Int, height: Int)?> = Mutex(nil)
    private let thread: Mutex<DedicatedThread?> = Mutex(nil)
    private let settings: EncoderSettings
    private let h264: H264Settings
    private let fps: Int
    private let keyframeNanos: UInt64
    private let output: @Sendable (EncodedFrame) -> Void

    /// A stream for a camera at `fps`, with the overlay settings of its JPEG encoders.
    public init(fps: Int, keyframeSeconds: Double, settings: EncoderSettings, h264: H264Settings = H264Settings(),
                output: @escaping @Sendable (EncodedFrame) -> Void) {
        self.fps = max(1, fps)
        self.keyframeNanos = UInt64(keyframeSeconds * 1e9)
        self.settings = settings
        self.h264 = h264
        self.output = output
        queue = BoundedQueue(capacity: 3)
        thread.withLock { t in
            t = DedicatedThread(name: "h264-\(settings.label)") { [self] in run() }
        }
    }

    /// Copies `frame` for encoding; false (counted) when the encoder is behind or cannot take its format.
    @discardableResult
    public func submit(_ frame: RawFrame) -> Bool {
        guard frame.format != .jpeg else {
            droppedUnsupported.add(1, ordering: .relaxed)
            return false
        }
        let buffer = pool.withLock { current -> BufferPool.Buffer? in
            if current?.width != frame.width || current?.height != frame.height {
                current = (BufferPool(count: 4, bytesPerBuffer: BufferPool.Buffer.byteCount(format: .yuv420, width: frame.width, height: frame.height)),
                           frame.width, frame.height)
            }
            return current?.pool.acquire()
        }
        guard let buffer else {
            stats.droppedBusy.add(1, ordering: .relaxed)
            return false
        }
        let planes = buffer.planes(format: .yuv420, width: frame.width, height: frame.height)
        Self.copyAsI420(frame, into: planes)
        let copy = RawFrame(format: .yuv420, width: frame.width, height: frame.height, planes: planes, sequence: frame.sequence,
                            time: frame.time, storage: buffer)
        guard queue.offer(copy) else {
            buffer.release()
            stats.droppedBusy.add(1, ordering: .relaxed)
            return false
        }
        return true
    }

    /// Stops after encoding what is queued; waits for the thread.
    public func stop() {
        queue.close()
        thread.withLock { t -> DedicatedThread? in
            defer { t = nil }
            return t
        }?.join()
    }

    /// Copies Y as is and makes 4:2:0 chroma from 4:2:0 (copy), 4:2:2 (every other row) or grey (neutral).
    static func copyAsI420(_ frame: RawFrame, into planes: [Plane]) {
        for (index, target) in planes.enumerated() {
            for row in 0..<target.height {
                let out = target.row(row)
                if frame.format == .grey && index > 0 {
                    out.update(repeating: 128, count: target.width)
                    continue
                }
                let source = frame.planes[index]
                let sourceRow = index > 0 && frame.format == .yuv422 ? min(row * 2, source.height - 1) : row
                out.update(from: source.row(sourceRow), count: min(target.width, source.width))
            }
        }
    }

    private func run() {
        let overlay = TimestampOverlay()
        var encoder: H264Encoder?
        var lastKeyframe: UInt64?
        while let frame = queue.take() {
            defer { frame.storage.release() }
            let start = MonotonicClock.nanos()
            if encoder?.width != frame.width || encoder?.height != frame.height {
                // A new size needs a new stream: its first picture is an IDR with new parameter sets.
                encoder = try? H264Encoder(width: frame.width, height: frame.height, fps: fps,
                                           keyframeInterval: max(1, Int(Double(fps) * Double(keyframeNanos) / 1e9) * 2), settings: h264)
                lastKeyframe = nil
            }
            guard let encoder else {
                stats.errors.add(1, ordering: .relaxed)
                continue
            }
            if settings.overlay.load(ordering: .relaxed) { overlay.draw(on: frame, label: settings.label) }
            let due = lastKeyframe.map { frame.time.monotonicNanos &- $0 >= keyframeNanos } ?? true
            guard let unit = try? encoder.encode(frame.planes, pts: Int64(frame.sequence), keyframe: due) else {
                stats.errors.add(1, ordering: .relaxed)
                continue
            }
            if unit.isKeyframe { lastKeyframe = frame.time.monotonicNanos }
            let nanos = MonotonicClock.nanos() - start
            stats.record(nanos: nanos)
            stats.encoded.add(1, ordering: .relaxed)
            output(EncodedFrame(codec: .h264, isKeyframe: unit.isKeyframe, bytes: ByteBuffer(bytes: unit.bytes), sequence: frame.sequence,
                                time: frame.time, width: frame.width, height: frame.height, encodeNanos: nanos,
                                parameterSets: encoder.parameterSets))
        }
    }
}
