import Frames
import Platform
import NIOCore
import Synchronization

/// Settings an encoder pool reads for every frame; changeable while running.
public final class EncoderSettings: Sendable {
    /// JPEG quality, 1–100.
    public let quality: Atomic<Int>
    /// Whether the timestamp overlay is drawn.
    public let overlay: Atomic<Bool>
    /// Text after the clock in the overlay (the camera id).
    public let label: String
    /// How the camera is mounted: camera JPEGs are turned once decoded (raw frames are turned at capture).
    public let orientation: Orientation
    /// A second overlay line under the clock (the GPS's speed and heading; empty: none), set from any thread.
    private let captionText = Mutex("")

    /// The second overlay line.
    public var caption: String { captionText.withLock { $0 } }

    /// Sets the second overlay line (empty: none).
    public func setCaption(_ text: String) {
        captionText.withLock { $0 = text }
    }

    /// Creates settings.
    public init(quality: Int, overlay: Bool, label: String, orientation: Orientation = Orientation()) {
        self.quality = Atomic(quality)
        self.overlay = Atomic(overlay)
        self.label = label
        self.orientation = orientation
    }
}

/// Counters and encode-time statistics of one pool.
public final class EncodeStats: Sendable {
    /// Frames encoded and delivered.
    public let encoded = Atomic<UInt64>(0)
    /// Frames refused because every worker was busy and the queue full.
    public let droppedBusy = Atomic<UInt64>(0)
    /// Frames libjpeg-turbo failed on.
    public let errors = Atomic<UInt64>(0)
    /// Camera JPEGs refused as corrupt or truncated (MJPEG pass-through).
    public let corrupt = Atomic<UInt64>(0)
    private let window = Mutex(Window())

    private struct Window {
        var samples = [UInt64](repeating: 0, count: 1024)
        var next = 0
        var filled = 0
    }

    /// Creates zeroed statistics.
    public init() {}

    /// The observer, in a struct: a function type held directly as a Mutex's value is re-wrapped in two reabstraction
    /// thunks at every `withLock` (Swift 6.3), so each frame made the next call one level deeper: CPU per frame grew with
    /// the uptime, memory with it, and the stack would have overflowed within hours.
    private struct Observer {
        var call: (@Sendable (UInt64) -> Void)?
    }

    private let observer = Mutex(Observer())

    /// Calls `body` with every encode time from now on (for the metrics histogram).
    public func observe(_ body: @escaping @Sendable (UInt64) -> Void) {
        observer.withLock { $0.call = body }
    }

    func record(nanos: UInt64) {
        observer.withLock { $0.call }?(nanos)
        window.withLock { w in
            w.samples[w.next] = nanos
            w.next = (w.next + 1) % w.samples.count
            w.filled = min(w.filled + 1, w.samples.count)
        }
    }

    /// Mean and 99th percentile of the last 1024 encode times, in milliseconds (nil before the first frame).
    public func encodeMillis() -> (mean: Double, p99: Double)? {
        let recent = window.withLock { Array($0.samples.prefix($0.filled)) }
        guard !recent.isEmpty else { return nil }
        let sorted = recent.sorted()
        let mean = Double(sorted.reduce(0, +)) / Double(sorted.count)
        let p99 = sorted[min(sorted.count - 1, Int((Double(sorted.count) * 0.99).rounded(.up)) - 1)]
        return (mean / 1e6, Double(p99) / 1e6)
    }
}

/// N encoder threads sharing one bounded queue, delivering frames in capture order.
///
/// `submit` never blocks: when the queue is full the frame is refused (the caller releases it and
/// the drop is counted). Results are re-ordered by ticket so consumers see frames in the order
/// they were captured even though workers finish out of order.
public final class EncoderPool: Sendable {
    private struct Job: @unchecked Sendable {
        let ticket: UInt64
        let frame: RawFrame
    }

    private struct Reorder {
        var next: UInt64 = 0
        var done: [UInt64: EncodedFrame?] = [:]
    }

    /// Settings read per frame.
    public let settings: EncoderSettings
    /// Counters.
    public let stats = EncodeStats()
    /// Frames queued and delivered (in capture order): the watchdog's view of the pool.
    public let progress = WorkProgress()
    /// Number of worker threads.
    public let workerCount: Int
    /// JPEG compressors alive (one per worker while the pool exists).
    public let openEncoders = InstanceCount()

    private let queue: BoundedQueue<Job>
    private let nextTicket = Mutex<UInt64>(0)
    private let reorder = Mutex(Reorder())
    private let output: @Sendable (EncodedFrame) -> Void
    private let threads: [Worker]

    /// Starts `workers` threads; `output` is called in capture order, from a worker thread, and must not block.
    public init(workers: Int, queueDepth: Int? = nil, settings: EncoderSettings,
                output: @escaping @Sendable (EncodedFrame) -> Void) throws {
        workerCount = max(1, workers)
        self.settings = settings
        self.output = output
        queue = BoundedQueue(capacity: queueDepth ?? workerCount * 2)
        var encoders: [JPEGEncoder] = []
        for _ in 0..<workerCount { encoders.append(try JPEGEncoder(counted: openEncoders)) }
        threads = encoders.map { _ in Worker() }
        for (i, encoder) in encoders.enumerated() {
            let box = UncheckedSendable(encoder)
            threads[i].start(name: "enc-\(settings.label.prefix(8))-\(i)") { [self] in work(box.value) }
        }
    }

    /// Default worker count: min(cores, 4).
    public static var defaultWorkers: Int { min(System.coreCount, 4) }

    /// Queues `frame` for encoding; false (frame not taken) when the queue is full or the pool stopped.
    public func submit(_ frame: RawFrame) -> Bool {
        let taken = nextTicket.withLock { ticket in
            guard queue.offer(Job(ticket: ticket, frame: frame)) else { return false }
            ticket += 1
            progress.accept()
            return true
        }
        if !taken { stats.droppedBusy.add(1, ordering: .relaxed) }
        return taken
    }

    /// Queues `frame`, waiting for room; for lossless producers (benchmarks) only.
    public func submitWaiting(_ frame: RawFrame) -> Bool {
        nextTicket.withLock { ticket in
            guard queue.put(Job(ticket: ticket, frame: frame)) else { return false }
            ticket += 1
            progress.accept()
            return true
        }
    }

    /// Stops accepting frames, lets queued ones finish, and joins the workers.
    public func stop() {
        queue.close()
        for t in threads { t.stop() }
    }

    private func work(_ encoder: JPEGEncoder) {
        let overlay = TimestampOverlay()
        let allocator = ByteBufferAllocator()
        let stall = FaultInjection.stall(.jpeg)
        while let job = queue.take() {
            stall?.hold(while: { !queue.isClosed })
            let frame = job.frame
            if frame.format == .jpeg {
                // Pass-through: checked and wrapped, never re-encoded (no overlay is possible here).
                let plane = frame.planes[0]
                let encoded = JPEGPassthrough.frame(UnsafeRawBufferPointer(start: plane.base, count: plane.width), sequence: frame.sequence,
                                                    time: frame.time, width: frame.width, height: frame.height, allocator: allocator)
                frame.storage.release()
                if encoded == nil { stats.corrupt.add(1, ordering: .relaxed) }
                deliver(ticket: job.ticket, encoded)
                continue
            }
            let start = MonotonicClock.nanos()
            if settings.overlay.load(ordering: .relaxed) {
                overlay.draw(on: frame, label: settings.label, caption: settings.caption)
            }
            let quality = settings.quality.load(ordering: .relaxed)
            let encoded = try? encoder.encode(frame, quality: quality) { bytes in
                let nanos = MonotonicClock.nanos() - start
                return EncodedFrame(jpeg: bytes, sequence: frame.sequence, time: frame.time,
                                    width: frame.width, height: frame.height, encodeNanos: nanos, allocator: allocator)
            }
            // The raw buffer goes back (to the pool, or QBUF to the driver) as soon as it is encoded.
            frame.storage.release()
            if let encoded {
                stats.record(nanos: encoded.encodeNanos)
            } else {
                stats.errors.add(1, ordering: .relaxed)
            }
            deliver(ticket: job.ticket, encoded)
        }
    }

    private func deliver(ticket: UInt64, _ frame: EncodedFrame?) {
        reorder.withLock { r in
            r.done[ticket] = .some(frame)
            while let ready = r.done.removeValue(forKey: r.next) {
                r.next += 1
                progress.finish()
                if let ready {
                    stats.encoded.add(1, ordering: .relaxed)
                    output(ready)
                }
            }
        }
    }
}
