import CShims
import Frames
import Platform
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A V4L2 camera (`v4l2:/dev/videoN`, or a stable `/dev/v4l/by-id/…` path) captured with mmap
/// streaming buffers on a dedicated thread.
///
/// Planar YUV 4:2:0 and grey frames go to the encoder in place, in the mmap buffer, which is
/// queued back (QBUF) as soon as the frame is encoded; NV12 lends its luma in place and YUYV is
/// converted to planes first; MJPEG is passed through. A lost device is closed completely and
/// reopened with backoff (1 s doubling to 30 s) while viewers get a NO SIGNAL picture every second.
public final class V4L2Source: FrameSource, @unchecked Sendable {
    /// Camera id (for the NO SIGNAL picture and thread names).
    public let cameraID: String
    /// Device path as configured.
    public let path: String
    /// Size and rate asked for.
    public let geometry: FrameGeometry
    /// Pixel format asked for.
    public let request: CaptureFormat
    /// Counters.
    public let stats = SourceStats()

    private let bufferCount: Int
    private let h264Fallback: Bool
    private let logger: Logger
    private let pool: BufferPool
    private let worker = Worker()
    private let tracker: SourceHealthTracker
    private let chosen = Mutex<String>("")
    private var sequence: UInt64 = 0  // touched by the capture thread only

    /// Creates the source; nothing is opened until `start`.
    public init(cameraID: String, path: String, geometry: FrameGeometry, format: CaptureFormat = .auto, buffers: Int = 4,
                h264Fallback: Bool = false, logger: Logger = Logger(label: "v4l2")) {
        self.cameraID = cameraID
        self.path = path
        self.geometry = geometry
        self.request = format
        self.bufferCount = max(2, buffers)
        self.h264Fallback = h264Fallback
        self.logger = logger
        tracker = SourceHealthTracker(cameraID: cameraID, device: path, logger: logger)
        // Room for a planar 4:2:2 frame: the largest any conversion or the NO SIGNAL picture needs.
        pool = BufferPool(count: 4, bytesPerBuffer: BufferPool.Buffer.byteCount(format: .yuv422, width: geometry.width, height: geometry.height))
    }

    /// `v4l2 /dev/video0 640x480@25 YUYV`.
    public var description: String {
        let f = chosen.withLock { $0 }
        return "v4l2 \(path) \(geometry)" + (f.isEmpty ? "" : " \(f)")
    }

    /// Streaming, or no signal with the reason.
    public var health: SourceHealth { tracker.current }

    /// Opens and configures the device now, so that a wrong size, format or a busy device fails the
    /// camera's start with a clear message; a missing or failing device is retried in the background.
    public func start(sink: @escaping @Sendable (RawFrame) -> Void) throws {
        let ready: UncheckedSendable<Configured?>
        let failed: CaptureError?
        switch Result(catching: { () throws(CaptureError) in try configure() }) {
        case .success(let configured):
            ready = UncheckedSendable(configured)
            failed = nil
        case .failure(let error):
            guard error.isTransient else { throw error }
            ready = UncheckedSendable(nil)
            failed = error
        }
        try worker.start(name: "cap-\(cameraID)", source: description) { [self] in supervise(first: ready.value, error: failed, sink: sink) }
    }

    /// Stops capture, releases the device (STREAMOFF, munmap, close) and waits for the thread.
    public func stop() {
        worker.stop()
    }

    // MARK: - Configuration

    struct Configured {
        let device: V4L2Device
        let fourcc: FourCC
        let bytesPerLine: Int
    }

    private func configure() throws(CaptureError) -> Configured {
        let device = try V4L2Device(path: path)
        do {
            return try configure(device)
        } catch {
            device.close()
            throw error
        }
    }

    private func configure(_ device: V4L2Device) throws(CaptureError) -> Configured {
        do {
            let info = try device.info()
            guard info.canCapture else {
                throw CaptureError.unsupported("\(path) (\(info.driver), \(info.card)) is not a video capture device with streaming I/O")
            }
            let offers = device.formats()
            let (fourcc, note) = try FormatChoice.choose(request, width: geometry.width, height: geometry.height, fps: geometry.fps,
                                                         offers: offers, device: path, h264Fallback: h264Fallback)
            if let note { logger.warning("\(note)", metadata: ["camera": "\(cameraID)", "device": "\(path)"]) }
            let set: (width: Int, height: Int, bytesPerLine: Int, sizeImage: Int)
            do {
                set = try device.setFormat(fourcc, width: geometry.width, height: geometry.height)
            } catch {
                throw error.code == EBUSY ? CaptureError.busy(busyMessage()) : error
            }
            guard set.width == geometry.width, set.height == geometry.height else {
                throw CaptureError.unsupported("\(path) set \(set.width)x\(set.height) when asked for \(geometry.width)x\(geometry.height); it offers: "
                                               + FormatChoice.describe(offers))
            }
            // Not every device lets the rate be set (ENOTTY); it then runs at its own.
            switch Result(catching: { () throws(CaptureError) in try device.setFrameRate(geometry.fps) }) {
            case .success(let rate) where abs(rate - Double(geometry.fps)) > 0.5:
                logger.warning("device runs at another rate", metadata: ["camera": "\(cameraID)", "asked": "\(geometry.fps)", "got": "\(rate)"])
            case .failure(let error):
                logger.warning("device does not take a frame rate", metadata: ["camera": "\(cameraID)", "error": "\(error)"])
            default:
                break
            }
            let minimumLine = fourcc == .yuyv ? geometry.width * 2 : geometry.width
            chosen.withLock { $0 = fourcc.description }
            return Configured(device: device, fourcc: fourcc, bytesPerLine: max(set.bytesPerLine, fourcc == .mjpeg || fourcc == .jpeg ? 0 : minimumLine))
        }
    }

    private func busyMessage() -> String {
        let holders = DeviceHolders.pids(of: path).filter { $0 != getpid() }
        let who = holders.map { "PID \($0) (\(DeviceHolders.name(of: $0)))" }.joined(separator: ", ")
        return "device busy: \(path) is held by \(who.isEmpty ? "another process" : who); stop that program or choose another camera"
    }

    // MARK: - Capture thread

    private func supervise(first: Configured?, error firstError: CaptureError?, sink: @escaping @Sendable (RawFrame) -> Void) {
        var next = first
        var lastError = firstError
        var backoff = Backoff()
        while worker.isRunning {
            if next == nil, lastError == nil {
                do { next = try configure() } catch { lastError = error }
            }
            if let configured = next {
                next = nil
                let before = stats.captured.load(ordering: .relaxed)
                do {
                    try stream(configured, sink: sink)
                    lastError = nil
                } catch {
                    lastError = error
                }
                // A device that delivered frames gets a quick first retry again after it is lost.
                if stats.captured.load(ordering: .relaxed) > before { backoff.reset() }
                configured.device.close()
                if !worker.isRunning { break }
            }
            if let error = lastError {
                tracker.noSignal(for: backoff.next(), reason: error.description, pool: pool, geometry: geometry, sequence: &sequence,
                                 running: { [worker] in worker.isRunning }, sink: sink)
                lastError = nil
                stats.reconnects.add(1, ordering: .relaxed)
            }
        }
    }

    private func stream(_ c: Configured, sink: @Sendable (RawFrame) -> Void) throws(CaptureError) {
        let device = c.device
        try device.mapBuffers(count: bufferCount)
        for i in device.buffers.indices { try device.queue(i) }
        try device.streamOn()
        let session = Session(device: device)
        defer { session.close() }
        var lastFrame = MonotonicClock.nanos()
        var lastDeviceSequence: UInt32?
        tracker.set(.streaming, detail: c.fourcc.description)
        while worker.isRunning {
            var pfd = pollfd(fd: device.fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, 200)
            if ready < 0 && errno != EINTR { throw CaptureError.system(errno, "poll", path) }
            if pfd.revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 {
                throw CaptureError.unsupported("\(path) reported an error or was disconnected (poll \(pfd.revents))")
            }
            if let failure = session.failure { throw failure }
            if pfd.revents & Int16(POLLIN) != 0 {
                while let d = try device.dequeue() {
                    lastFrame = MonotonicClock.nanos()
                    if let previous = lastDeviceSequence, d.sequence &- previous > 1 {
                        stats.deviceDropped.add(UInt64(d.sequence &- previous - 1), ordering: .relaxed)
                    }
                    lastDeviceSequence = d.sequence
                    if d.flags & BB_BUF_FLAG_ERROR != 0 {
                        stats.deviceErrors.add(1, ordering: .relaxed)
                        try device.queue(d.index)
                        continue
                    }
                    try deliver(d, c, session: session, sink: sink)
                }
            }
            if MonotonicClock.nanos() - lastFrame > 2_000_000_000 {
                throw CaptureError.unsupported("no frame from \(path) for 2 s")
            }
        }
    }

    private func deliver(_ d: V4L2Device.Dequeued, _ c: Configured, session: Session, sink: @Sendable (RawFrame) -> Void) throws(CaptureError) {
        guard let frame = makeFrame(d, c, session: session) else {
            stats.droppedNoBuffer.add(1, ordering: .relaxed)
            try session.device.queue(d.index)
            return
        }
        stats.captured.add(1, ordering: .relaxed)
        // The frame goes out before QBUF can fail (a device lost right now): a converted frame owns a
        // pool buffer, which must not be stranded by the error.
        sink(frame)
        if c.fourcc == .yuyv { try session.device.queue(d.index) }  // converted: the driver can have its buffer back at once
    }

    /// The frame for a dequeued buffer, or nil when no conversion buffer is free.
    private func makeFrame(_ d: V4L2Device.Dequeued, _ c: Configured, session: Session) -> RawFrame? {
        let base = session.device.buffers[d.index].start.assumingMemoryBound(to: UInt8.self)
        let (w, h, bpl) = (geometry.width, geometry.height, c.bytesPerLine)
        let time = CaptureTime.now()
        let cw = (w + 1) / 2, ch = (h + 1) / 2
        switch c.fourcc {
        case .yuv420, .grey:
            var planes = [Plane(base: base, stride: bpl, width: w, height: h)]
            if c.fourcc == .yuv420 {
                let cs = bpl / 2
                planes.append(Plane(base: base + bpl * h, stride: cs, width: cw, height: ch))
                planes.append(Plane(base: base + bpl * h + cs * ch, stride: cs, width: cw, height: ch))
            }
            sequence += 1
            return RawFrame(format: c.fourcc == .grey ? .grey : .yuv420, width: w, height: h, planes: planes, sequence: sequence,
                            time: time, storage: session.lease(d.index))
        case .nv12:
            guard let chroma = pool.acquire() else { return nil }
            let cb = chroma.bytes.assumingMemoryBound(to: UInt8.self)
            let u = Plane(base: cb, stride: cw, width: cw, height: ch), v = Plane(base: cb + cw * ch, stride: cw, width: cw, height: ch)
            PixelConversion.splitNV12Chroma(base + bpl * h, stride: bpl, width: w, height: h, u: u, v: v)
            sequence += 1
            return RawFrame(format: .yuv420, width: w, height: h, planes: [Plane(base: base, stride: bpl, width: w, height: h), u, v],
                            sequence: sequence, time: time, storage: Both(session.lease(d.index), chroma))
        case .yuyv:
            guard let planar = pool.acquire() else { return nil }
            let planes = planar.planes(format: .yuv422, width: w, height: h)
            PixelConversion.yuyvToPlanar(base, stride: bpl, width: w, height: h, into: planes)
            sequence += 1
            return RawFrame(format: .yuv422, width: w, height: h, planes: planes, sequence: sequence, time: time, storage: planar)
        default:  // MJPEG / JPEG: passed through
            let used = min(d.bytesUsed, session.device.buffers[d.index].length)
            sequence += 1
            return RawFrame(format: .jpeg, width: w, height: h, planes: [Plane(base: base, stride: used, width: used, height: 1)],
                            sequence: sequence, time: time, storage: session.lease(d.index))
        }
    }
}

/// One streaming session of a device: lends its buffers out and takes them back with QBUF, until
/// it is closed; a buffer returned after that is not queued on a closed (maybe reused) descriptor.
final class Session: @unchecked Sendable {
    let device: V4L2Device
    private let state = Mutex<(open: Bool, outstanding: Int, failure: CaptureError?)>((true, 0, nil))

    init(device: V4L2Device) { self.device = device }

    var failure: CaptureError? { state.withLock { $0.failure } }

    func lease(_ index: Int) -> Lease {
        state.withLock { $0.outstanding += 1 }
        return Lease(session: self, index: index)
    }

    func giveBack(_ index: Int) {
        let open = state.withLock { s -> Bool in
            s.outstanding -= 1
            return s.open
        }
        guard open else { return }
        let result = Result { () throws(CaptureError) in try device.queue(index) }
        if case .failure(let error) = result { state.withLock { $0.failure = error } }
    }

    /// Waits (up to 2 s) for lent buffers to come back, then stops lending: the device may be unmapped.
    func close() {
        let deadline = MonotonicClock.nanos() + 2_000_000_000
        while state.withLock({ $0.outstanding }) > 0 && MonotonicClock.nanos() < deadline { sleepNanos(2_000_000) }
        state.withLock { $0.open = false }
    }

    final class Lease: FrameStorage, @unchecked Sendable {
        let session: Session
        let index: Int
        init(session: Session, index: Int) {
            self.session = session
            self.index = index
        }
        func release() { session.giveBack(index) }
    }
}

/// Storage made of two parts released together (NV12: the device buffer and the split chroma).
final class Both: FrameStorage, @unchecked Sendable {
    let a: any FrameStorage, b: any FrameStorage
    init(_ a: any FrameStorage, _ b: any FrameStorage) {
        self.a = a
        self.b = b
    }
    func release() {
        a.release()
        b.release()
    }
}

extension CaptureError {
    /// Errors worth retrying: the device is missing or failing now but may come back.
    var isTransient: Bool {
        switch self {
        case .system(let code, _, _): return [ENOENT, ENODEV, ENXIO, EIO, EAGAIN].contains(code)
        default: return false
        }
    }
}

/// Finds which processes hold a device open (to say who, when it is busy).
public enum DeviceHolders {
    /// PIDs with an open descriptor on `path` (resolved through symlinks).
    public static func pids(of path: String) -> [Int32] {
        guard let target = Directory.resolved(path) else { return [] }
        return Directory.entries("/proc").compactMap(Int32.init).filter { pid in
            Directory.entries("/proc/\(pid)/fd").contains { fd in Directory.resolved("/proc/\(pid)/fd/\(fd)") == target }
        }
    }

    /// The command name of a process.
    public static func name(of pid: Int32) -> String {
        guard let f = fopen("/proc/\(pid)/comm", "r") else { return "?" }
        defer { fclose(f) }
        var buf = [CChar](repeating: 0, count: 64)
        guard fgets(&buf, 64, f) != nil else { return "?" }
        return String(decoding: buf.prefix(while: { $0 != 0 && $0 != 10 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
