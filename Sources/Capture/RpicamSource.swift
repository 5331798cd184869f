import CShims
import Frames
import Platform
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `rpicam:N`: frames from Raspberry Pi's `rpicam-vid` run as a supervised subprocess.
///
/// The child runs in its own process group with default signal handling and reads nothing. Its
/// stdout is read on the capture thread into fixed buffers (YUV 4:2:0 frames by size, MJPEG by
/// JPEG markers); its stderr is read line by line on a second thread and kept short. A child that
/// dies, stalls for 2 s or reports the camera busy is stopped and restarted with backoff while
/// viewers see NO SIGNAL. Stopping is SIGTERM to the group, SIGKILL after 2 s, and reaping of the
/// child and of any grandchild (this process is made their subreaper), so nothing is left behind.
/// rpicam-vid writes each frame's sensor time to a third pipe (`--save-pts /dev/fd/3`): frames the camera
/// lost while the daemon read slowly leave gaps there, and are counted as the device's drops.
public final class RpicamSource: FrameSource, @unchecked Sendable {
    /// What rpicam-vid writes.
    public enum Codec: String, Sendable, CaseIterable {
        /// Raw planar YUV 4:2:0, encoded here.
        case yuv420
        /// rpicam-vid's own JPEG encoder (CPU), passed through.
        case mjpeg
    }

    /// Camera id.
    public let cameraID: String
    /// rpicam's camera index.
    public let index: Int
    /// Size and rate.
    public let geometry: FrameGeometry
    /// Output codec asked of rpicam-vid.
    public let codec: Codec
    /// Counters.
    public let stats = SourceStats()
    /// Program to run (found on PATH).
    public let program: String

    private let logger: Logger
    private let tracker: SourceHealthTracker
    private let pool: BufferPool
    private let worker = Worker()
    private let stderrTail = Mutex<[String]>([])
    private var sequence: UInt64 = 0  // capture thread only
    private var savesTimestamps = true  // capture thread only: off after an rpicam-vid that could not open the pipe

    /// Creates the source; the child starts with `start`.
    public init(cameraID: String, index: Int, geometry: FrameGeometry, codec: Codec = .yuv420, program: String = "rpicam-vid",
                logger: Logger = Logger(label: "rpicam")) {
        self.cameraID = cameraID
        self.index = index
        self.geometry = geometry
        self.codec = codec
        self.program = program
        self.logger = logger
        tracker = SourceHealthTracker(cameraID: cameraID, device: "rpicam:\(index)", logger: logger)
        pool = BufferPool(count: 6, bytesPerBuffer: BufferPool.Buffer.byteCount(format: .yuv420, width: geometry.width, height: geometry.height) + 65536)
        _ = blackbox_set_child_subreaper()
    }

    /// `rpicam:0 1280x720@30 yuv420`.
    public var description: String { "rpicam:\(index) \(geometry) \(codec)" }

    /// Streaming, or no signal with the reason.
    public var health: SourceHealth { tracker.current }

    /// The last lines rpicam-vid wrote to stderr (at most 20).
    public var recentErrors: [String] { stderrTail.withLock { $0 } }

    /// Starts supervising rpicam-vid on a dedicated thread.
    public func start(sink: @escaping @Sendable (RawFrame) -> Void) throws {
        try worker.start(name: "rpicam-\(cameraID)", source: description) { [self] in supervise(sink: sink) }
    }

    /// Stops the child completely (and reaps it) and waits for the thread; at most about 2.5 s.
    public func stop() {
        worker.stop()
    }

    var arguments: [String] {
        [program, "--camera", "\(index)", "--codec", codec.rawValue, "--width", "\(geometry.width)", "--height", "\(geometry.height)",
         "--framerate", "\(geometry.fps)", "--timeout", "0", "--nopreview", "--flush", "-o", "-"]
            + (savesTimestamps ? ["--save-pts", "/dev/fd/3"] : [])
    }

    private func supervise(sink: @escaping @Sendable (RawFrame) -> Void) {
        var backoff = Backoff()
        while worker.isRunning {
            let before = stats.captured.load(ordering: .relaxed)
            var reason: String
            do {
                let child = try ChildProcess(arguments, pipeFD3: savesTimestamps)
                let errors = DedicatedThread(name: "rpicam-err") { [self] in readErrors(child.stderr) }
                reason = read(child, sink: sink)
                if child.terminate() {
                    logger.warning("rpicam-vid ignored SIGTERM for 2 s; killed it", metadata: ["pid": "\(child.pid)"])
                }
                errors.join()
                child.closeOutput()
            } catch {
                reason = "\(error)"
            }
            if stats.captured.load(ordering: .relaxed) > before { backoff.reset() }
            guard worker.isRunning else { break }
            if let busy = recentErrors.last(where: { $0.contains("in use by another process") || $0.contains("no cameras available") }) {
                reason = "camera unavailable: \(busy)"
            }
            if savesTimestamps, recentErrors.contains(where: { $0.contains("timestamp file") }) {
                // Its frames matter more than counting the ones it loses: the next start goes without.
                savesTimestamps = false
                logger.warning("rpicam-vid cannot write its timestamps to /dev/fd/3; frames the camera loses are not counted",
                               metadata: ["camera": "\(cameraID)"])
            }
            tracker.noSignal(for: backoff.next(), reason: reason, pool: pool, geometry: geometry, sequence: &sequence,
                             running: { [worker] in worker.isRunning }, sink: sink)
            stats.reconnects.add(1, ordering: .relaxed)
        }
    }

    /// Reads frames until the child ends, stalls or the source stops; returns why it ended.
    private func read(_ child: ChildProcess, sink: @Sendable (RawFrame) -> Void) -> String {
        let frameBytes = BufferPool.Buffer.byteCount(format: .yuv420, width: geometry.width, height: geometry.height)
        // Bounded staging: a frame, or for MJPEG up to two uncompressed frames' worth before resync.
        let capacity = codec == .yuv420 ? frameBytes : frameBytes * 2
        let staging = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 64)
        defer { staging.deallocate() }
        var filled = 0
        var lastFrame = MonotonicClock.nanos()
        var gaps = TimestampGaps(fps: geometry.fps)
        // The frames, and their timestamps (fd -1 when there are none: poll passes over it).
        var fds = [pollfd(fd: child.stdout, events: Int16(POLLIN), revents: 0), pollfd(fd: child.fd3, events: Int16(POLLIN), revents: 0)]
        while worker.isRunning {
            fds[0].revents = 0
            fds[1].revents = 0
            _ = poll(&fds, 2, 200)
            if fds[1].revents & Int16(POLLIN | POLLHUP | POLLERR) != 0, !readTimestamps(fds[1].fd, into: &gaps) {
                fds[1].fd = -1  // closed: the frames go on without
            }
            if fds[0].revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                let n = Glibc.read(child.stdout, staging.baseAddress! + filled, capacity - filled)
                if n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN) {
                    return child.exitDescription() ?? "\(program) closed its output"
                }
                if n > 0 { filled += n }
                while let used = takeFrame(from: UnsafeRawBufferPointer(rebasing: staging[0..<filled]), frameBytes: frameBytes, sink: sink) {
                    lastFrame = MonotonicClock.nanos()
                    let rest = filled - used
                    if rest > 0 { (staging.baseAddress! ).copyMemory(from: staging.baseAddress! + used, byteCount: rest) }
                    filled = rest
                }
                if filled == capacity {
                    // No complete JPEG in two frames' worth of bytes: corrupt; start again at the next SOI.
                    stats.deviceErrors.add(1, ordering: .relaxed)
                    filled = 0
                }
            }
            if let ended = child.exitDescription() { return ended }
            if MonotonicClock.nanos() - lastFrame > 2_000_000_000 {
                return "no frame from \(program) for 2 s"
            }
        }
        return "stopped"
    }

    /// Reads what rpicam-vid wrote of its timestamps and counts the frames their gaps show as lost; false once the
    /// pipe is closed.
    private func readTimestamps(_ fd: Int32, into gaps: inout TimestampGaps) -> Bool {
        withUnsafeTemporaryAllocation(byteCount: 512, alignment: 8) { chunk in
            let n = Glibc.read(fd, chunk.baseAddress!, chunk.count)
            if n < 0 { return errno == EINTR || errno == EAGAIN }
            stats.deviceDropped.add(gaps.feed(UnsafeRawBufferPointer(rebasing: chunk[0..<n])), ordering: .relaxed)
            return n > 0
        }
    }

    /// Delivers the first complete frame in `bytes`; returns how many bytes it used (nil: need more).
    private func takeFrame(from bytes: UnsafeRawBufferPointer, frameBytes: Int, sink: @Sendable (RawFrame) -> Void) -> Int? {
        switch codec {
        case .yuv420:
            guard bytes.count >= frameBytes else { return nil }
            deliver(UnsafeRawBufferPointer(rebasing: bytes[0..<frameBytes]), format: .yuv420, sink: sink)
            return frameBytes
        case .mjpeg:
            // Skip anything before a start-of-image marker.
            var start = 0
            while start + 1 < bytes.count, !(bytes[start] == 0xFF && bytes[start + 1] == 0xD8) { start += 1 }
            if start > 0 { return start }
            guard let layout = JPEGLayout.inspect(bytes) else { return nil }
            deliver(UnsafeRawBufferPointer(rebasing: bytes[0..<layout.length]), format: .jpeg, sink: sink)
            return layout.length
        }
    }

    private func deliver(_ bytes: UnsafeRawBufferPointer, format: PixelFormat, sink: @Sendable (RawFrame) -> Void) {
        guard let buffer = pool.acquire(), bytes.count <= buffer.count else {
            stats.droppedNoBuffer.add(1, ordering: .relaxed)
            return
        }
        buffer.bytes.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        let planes = format == .jpeg
            ? [Plane(base: buffer.bytes.assumingMemoryBound(to: UInt8.self), stride: bytes.count, width: bytes.count, height: 1)]
            : buffer.planes(format: .yuv420, width: geometry.width, height: geometry.height)
        sequence += 1
        stats.captured.add(1, ordering: .relaxed)
        tracker.set(.streaming, detail: codec.rawValue)
        sink(RawFrame(format: format, width: geometry.width, height: geometry.height, planes: planes, sequence: sequence,
                      time: .now(), storage: buffer))
    }

    /// Reads stderr line by line until EOF, logging and keeping the last 20 lines (each cut to 300
    /// bytes). Lines are found with memchr: a child flooding its log must not slow down its frames.
    private func readErrors(_ fd: Int32) {
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        defer { chunk.deallocate() }
        var line: [UInt8] = []
        line.reserveCapacity(300)
        while true {
            let n = Glibc.read(fd, chunk.baseAddress!, chunk.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            var start = 0
            while start < n {
                let base = chunk.baseAddress! + start
                let newline = memchr(base, 10, n - start)
                let end = newline.map { $0 - chunk.baseAddress! } ?? n
                let room = max(0, 300 - line.count)
                line.append(contentsOf: UnsafeRawBufferPointer(start: base, count: min(room, end - start)))
                guard newline != nil else { break }
                keep(line)
                line.removeAll(keepingCapacity: true)
                start = end + 1
            }
        }
        if !line.isEmpty { keep(line) }
    }

    private func keep(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        guard !text.isEmpty else { return }
        logger.debug("rpicam-vid: \(text)", metadata: ["camera": "\(cameraID)"])
        stderrTail.withLock { tail in
            tail.append(text)
            if tail.count > 20 { tail.removeFirst(tail.count - 20) }
        }
    }
}
