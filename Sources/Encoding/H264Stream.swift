import Frames
import Platform
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
    /// Camera JPEGs that could not be decoded (corrupt, or another size).
    public let droppedUndecodable = Atomic<UInt64>(0)
    /// Pictures queued and finished (encoded or not): the watchdog's view of the encoder.
    public let progress = WorkProgress()

    /// A picture waiting for the encoder: I420 planes in a pooled buffer, or a camera JPEG to decode first.
    private enum Job {
        case planes(RawFrame)
        case jpeg([UInt8], sequence: UInt64, time: CaptureTime, width: Int, height: Int)
    }

    private let queue: BoundedQueue<Job>
    private let pool: Mutex<(pool: BufferPool, width: Int, height: Int)?> = Mutex(nil)
    private let thread = Worker()
    private let settings: EncoderSettings
    private let h264: H264Settings
    private let fps: Int
    private let keyframeNanos: UInt64
    private let output: @Sendable (EncodedFrame) -> Void
    private let counted: InstanceCount?

    /// A stream for a camera at `fps`, with the overlay settings of its JPEG encoders; its x264 encoder counts
    /// itself in `counted` while open.
    public init(fps: Int, keyframeSeconds: Double, settings: EncoderSettings, h264: H264Settings = H264Settings(),
                counted: InstanceCount? = nil, output: @escaping @Sendable (EncodedFrame) -> Void) {
        self.fps = max(1, fps)
        self.keyframeNanos = UInt64(keyframeSeconds * 1e9)
        self.settings = settings
        self.h264 = h264
        self.output = output
        self.counted = counted
        queue = BoundedQueue(capacity: 3)
        thread.start(name: "h264-\(settings.label)") { [self] in run() }
    }

    /// Copies `frame` for encoding (a camera JPEG as it is, decoded on the encoder's thread); false
    /// (counted) when the encoder is behind.
    @discardableResult
    public func submit(_ frame: RawFrame) -> Bool {
        if frame.format == .jpeg {
            let plane = frame.planes[0]
            let bytes = Array(UnsafeBufferPointer(start: plane.base, count: plane.width))
            return enqueue(.jpeg(bytes, sequence: frame.sequence, time: frame.time, width: frame.width, height: frame.height), holding: nil)
        }
        guard let buffer = pooledBuffer(width: frame.width, height: frame.height) else {
            stats.droppedBusy.add(1, ordering: .relaxed)
            return false
        }
        let planes = buffer.planes(format: .yuv420, width: frame.width, height: frame.height)
        Self.copyAsI420(frame, into: planes)
        let copy = RawFrame(format: .yuv420, width: frame.width, height: frame.height, planes: planes, sequence: frame.sequence,
                            time: frame.time, storage: buffer)
        return enqueue(.planes(copy), holding: buffer)
    }

    /// Queues `job` for the encoder; when the encoder is behind, counts the drop and releases what the job holds.
    private func enqueue(_ job: Job, holding storage: (any FrameStorage)?) -> Bool {
        guard queue.offer(job) else {
            storage?.release()
            stats.droppedBusy.add(1, ordering: .relaxed)
            return false
        }
        progress.accept()
        return true
    }

    /// Takes `frame` itself when nothing else reads it (no JPEG is wanted of it): an I420 picture in the daemon's own
    /// memory (a file, test pattern or rpicam camera) is encoded in place, with no copy, and its buffer given back once
    /// encoded; any other frame (a device's buffer, which must go back to the driver soon; 4:2:2; a camera JPEG) is copied
    /// as by `submit` and released at once. The frame is always consumed; false (counted) when the encoder is behind.
    @discardableResult
    public func submit(handingOver frame: RawFrame) -> Bool {
        guard frame.format == .yuv420, frame.planes.count == 3, frame.storage.mayBeKept else {
            defer { frame.storage.release() }
            return submit(frame)
        }
        return enqueue(.planes(frame), holding: frame.storage)
    }

    /// A free I420 buffer of this size (a new pool when the size changed), nil when all are in use.
    private func pooledBuffer(width: Int, height: Int) -> BufferPool.Buffer? {
        pool.withLock { current in
            if current?.width != width || current?.height != height {
                current = (BufferPool(count: 4, bytesPerBuffer: BufferPool.Buffer.byteCount(format: .yuv420, width: width, height: height)),
                           width, height)
            }
            return current?.pool.acquire()
        }
    }

    /// Stops after encoding what is queued; waits for the thread.
    public func stop() {
        queue.close()
        thread.stop()
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

    /// The job's picture as I420 planes (decoding a camera JPEG into a pooled buffer), or nil when it has none.
    private func picture(_ job: Job, decoder: JPEGDecoder?, scratch: inout [UInt8]) -> RawFrame? {
        switch job {
        case .planes(let frame):
            return frame
        case .jpeg(let bytes, let sequence, let time, let width, let height):
            let buffer = pooledBuffer(width: width, height: height)
            guard let buffer, let decoder else {
                buffer?.release()
                droppedUndecodable.add(1, ordering: .relaxed)
                return nil
            }
            let planes = buffer.planes(format: .yuv420, width: width, height: height)
            do {
                try bytes.withUnsafeBytes { try decoder.decodeI420($0, into: planes, scratch: &scratch) }
            } catch {
                buffer.release()
                droppedUndecodable.add(1, ordering: .relaxed)
                return nil
            }
            let frame = RawFrame(format: .yuv420, width: width, height: height, planes: planes, sequence: sequence, time: time, storage: buffer)
            settings.orientation.apply(to: frame)
            return frame
        }
    }

    private func run() {
        let overlay = TimestampOverlay()
        let decoder = try? JPEGDecoder()
        var scratch: [UInt8] = []
        var encoder: H264Encoder?
        var lastKeyframe: UInt64?
        // Output frames are numbered in stream order: a frame this encoder never saw (dropped while it was busy) is no
        // gap in the stream, so a live client that sees consecutive numbers knows it missed nothing it needs.
        var produced: UInt64 = 0
        let cadence = FrameCadence(fps: fps)
        let stall = FaultInjection.stall(.h264)
        while let job = queue.take() {
            stall?.hold(while: { !queue.isClosed })
            defer { progress.finish() }
            let start = MonotonicClock.nanos()
            guard let frame = picture(job, decoder: decoder, scratch: &scratch) else { continue }
            defer { frame.storage.release() }
            if encoder?.width != frame.width || encoder?.height != frame.height {
                // A new size needs a new stream: its first picture is an IDR with new parameter sets. The old encoder
                // closes first, so the camera never counts two.
                encoder = nil
                encoder = try? H264Encoder(width: frame.width, height: frame.height, fps: fps,
                                           keyframeInterval: max(1, Int(Double(fps) * Double(keyframeNanos) / 1e9) * 2), settings: h264,
                                           counted: counted)
                lastKeyframe = nil
            }
            guard let encoder else {
                stats.errors.add(1, ordering: .relaxed)
                continue
            }
            if settings.overlay.load(ordering: .relaxed) { overlay.draw(on: frame, label: settings.label, caption: settings.caption) }
            let due = lastKeyframe.map { cadence.reached(frame.time.monotonicNanos &- $0, keyframeNanos) } ?? true
            guard let unit = try? encoder.encode(frame.planes, pts: Int64(frame.sequence), keyframe: due) else {
                stats.errors.add(1, ordering: .relaxed)
                continue
            }
            if unit.isKeyframe { lastKeyframe = frame.time.monotonicNanos }
            let nanos = MonotonicClock.nanos() - start
            stats.record(nanos: nanos)
            stats.encoded.add(1, ordering: .relaxed)
            produced += 1
            output(EncodedFrame(codec: .h264, isKeyframe: unit.isKeyframe, bytes: ByteBuffer(bytes: unit.bytes), sequence: produced,
                                time: frame.time, width: frame.width, height: frame.height, encodeNanos: nanos,
                                parameterSets: encoder.parameterSets))
        }
    }
}
