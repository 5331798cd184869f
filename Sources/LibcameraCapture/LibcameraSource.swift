import Capture
import CaptureGlue
import Frames
import Logging
import Platform
#if canImport(Glibc)
import Glibc
#endif

/// `libcamera:N` or `libcamera:NAME`: a camera read in the daemon's own process through libcamera (GStreamer's
/// libcamerasrc), no child process. The camera is looked up at every (re)start, so one plugged in later is found (an
/// index keeps to the camera it found first); while it is missing, held by another program or failing, viewers see
/// NO SIGNAL with the reason and the source retries with backoff. Each frame is copied once, from libcamera's buffer
/// into the camera's pool, so libcamera gets its buffer back at once and a slow encoder never stalls the camera.
public final class LibcameraSource: FrameSource, @unchecked Sendable {
    /// Camera id in this daemon.
    public let cameraID: String
    /// Index or libcamera id, as the spec gave it.
    public let selector: String
    /// Size and rate asked of the camera.
    public let geometry: FrameGeometry
    /// Counters.
    public let stats = SourceStats()
    /// A gst-launch description standing in for libcamerasrc: a named fake for tests on machines with no camera
    /// (`BLACKBOX_LIBCAMERA_FAKE`); nil in use.
    public let fake: String?

    private let logger: Logger
    private let tracker: SourceHealthTracker
    private let pool: BufferPool
    private let worker = Worker()
    private var sequence: UInt64 = 0  // capture thread only
    private var pinnedID: String?  // capture thread only: libcamera's id of the camera the selector found first

    /// Creates the source; the camera is opened by `start`.
    public init(cameraID: String, selector: String, geometry: FrameGeometry, logger: Logger = Logger(label: "libcamera"),
                fake: String? = nil) {
        self.cameraID = cameraID
        self.selector = selector
        self.geometry = geometry
        self.logger = logger
        self.fake = fake
        tracker = SourceHealthTracker(cameraID: cameraID, device: "libcamera:\(selector)", logger: logger)
        pool = BufferPool(count: 6, bytesPerBuffer: BufferPool.Buffer.byteCount(format: .yuv420, width: geometry.width, height: geometry.height))
    }

    /// `libcamera:0 1280x720@30`.
    public var description: String { "libcamera:\(selector) \(geometry)" }

    /// Streaming, or no signal with the reason.
    public var health: SourceHealth { tracker.current }

    /// Starts capturing on a dedicated thread.
    public func start(sink: @escaping @Sendable (RawFrame) -> Void) throws {
        try worker.start(name: "libcamera-\(cameraID)", source: description) { [self] in supervise(sink: sink) }
    }

    /// Stops capturing; the camera is released (another program may take it) before this returns.
    public func stop() {
        worker.stop()
    }

    private func supervise(sink: @escaping @Sendable (RawFrame) -> Void) {
        var backoff = Backoff()
        while worker.isRunning {
            let before = stats.captured.load(ordering: .relaxed)
            let reason = capture(sink: sink)
            if stats.captured.load(ordering: .relaxed) > before { backoff.reset() }
            guard worker.isRunning else { break }
            tracker.noSignal(for: backoff.next(), reason: reason, pool: pool, geometry: geometry, sequence: &sequence,
                             running: { [worker] in worker.isRunning }, sink: sink)
            stats.reconnects.add(1, ordering: .relaxed)
        }
    }

    /// Opens the camera and delivers frames until it fails or the source stops; returns why it ended.
    private func capture(sink: @Sendable (RawFrame) -> Void) -> String {
        var cameraName: String?
        if fake == nil {
            // An index names the camera found there first: once that camera is pulled out, the index belongs to
            // another one, and the source waits for its own camera instead of switching.
            switch LibcameraCameras.list().flatMap({ LibcameraCameras.find(pinnedID ?? selector, in: $0) }) {
            case .success(let camera):
                pinnedID = camera.id
                cameraName = camera.id
            case .failure(let error): return LibcameraSource.heldElsewhere() ?? error.description
            }
        }
        var error: UnsafeMutablePointer<CChar>?
        guard let pipeline = bb_capture_open(cameraName, fake, Int32(geometry.width), Int32(geometry.height), Int32(geometry.fps), &error) else {
            defer { free(error) }
            return LibcameraError.reason(forPipelineError: error.map { String(cString: $0) } ?? "the camera did not start")
        }
        // Closing releases the camera before the next attempt or before `stop` returns.
        defer {
            countDrops(pipeline)
            bb_capture_close(pipeline)
        }
        // libcamerasrc says nothing when its camera is pulled out: frames just stop. Once streaming, a second (or three
        // frame times) without one counts as lost; a starting camera is given 5 s.
        let lostAfter = max(1_000_000_000, 3_000_000_000 / UInt64(max(geometry.fps, 1)))
        var lastFrame = MonotonicClock.nanos()
        var streaming = false
        while worker.isRunning {
            var frame = bb_frame()
            let got = bb_capture_pull(pipeline, 100_000_000, &frame, &error)
            countDrops(pipeline)
            if got < 0 {
                defer { free(error); error = nil }
                return LibcameraError.reason(forPipelineError: error.map { String(cString: $0) } ?? "the camera failed")
            }
            if got == 0 {
                let silent = MonotonicClock.nanos() - lastFrame
                if silent > (streaming ? lostAfter : 5_000_000_000) {
                    let reason = "no frame from libcamera for \(silent / 1_000_000) ms (camera unplugged or stalled)"
                    if let cameraName { awaitUnplugHandled(cameraName, reason: reason, sink: sink) }
                    return reason
                }
                continue
            }
            streaming = true
            lastFrame = MonotonicClock.nanos()
            deliver(&frame, sink: sink)
            bb_frame_release(&frame)
        }
        return "stopped"
    }

    /// libcamera (0.0.3 here, and still 0.5) aborts the whole process when a camera that was pulled out is stopped before
    /// libcamera's own thread has handled the unplug: PipelineHandler::stop asserts that no request is still queued, and
    /// the requests a vanished device held never come back. Once handled, libcamera no longer lists the camera and
    /// stopping it does nothing. So while a device node this process holds is gone and libcamera still lists the camera,
    /// the pipeline stays open and viewers get NO SIGNAL (udev was seen to take over a second to tell libcamera, with the
    /// machine busy); a camera that only stalled is closed at once. A camera plugged in again under the same id before the
    /// old one was seen unlisted keeps this waiting till the bound, after which the old one is long handled.
    private func awaitUnplugHandled(_ id: String, reason: String, sink: @Sendable (RawFrame) -> Void) {
        let started = MonotonicClock.nanos()
        var waiting = Self.holdsUnpluggedDevice()
        tracker.noSignal(for: Self.unplugWaitNanos, reason: reason, pool: pool, geometry: geometry, sequence: &sequence,
                         running: {
                             guard worker.isRunning, waiting else { return false }
                             waiting = (try? LibcameraCameras.list().get())?.contains { $0.id == id } ?? false
                             return waiting
                         }, sink: sink)
        if waiting || MonotonicClock.nanos() - started > 1_000_000_000 {
            logger.notice("lost camera closed after waiting for libcamera to take its unplug in", metadata: [
                "camera": "\(cameraID)", "waitedMs": "\((MonotonicClock.nanos() - started) / 1_000_000)", "stillListed": "\(waiting)"])
        }
    }

    /// The longest a lost camera is kept open for libcamera to take its unplug in.
    static let unplugWaitNanos: UInt64 = 10_000_000_000

    /// Whether this process holds a video or media device node that is gone (its descriptor reads `… (deleted)`).
    static func holdsUnpluggedDevice() -> Bool {
        Directory.entries("/proc/self/fd").contains { fd in
            guard let target = Directory.linkTarget("/proc/self/fd/\(fd)") else { return false }
            return (target.hasPrefix("/dev/video") || target.hasPrefix("/dev/media")) && target.hasSuffix(" (deleted)")
        }
    }

    /// Frames the pipeline dropped because this thread was behind: slots of the camera's clock it missed.
    private func countDrops(_ pipeline: OpaquePointer) {
        let dropped = bb_capture_take_dropped(pipeline)
        if dropped > 0 { stats.late.add(UInt64(dropped), ordering: .relaxed) }
    }

    /// libcamera does not list a camera whose media device another process holds (its pipeline handler cannot lock it):
    /// when a camera is missing, the processes holding media devices are named, like a busy V4L2 device's.
    static func heldElsewhere() -> String? {
        let me = getpid()
        let held = Directory.entries("/dev").filter { $0.hasPrefix("media") }.sorted().compactMap { node -> String? in
            let pids = DeviceHolders.pids(of: "/dev/\(node)").filter { $0 != me }
            guard !pids.isEmpty else { return nil }
            return "/dev/\(node) by " + pids.map { "PID \($0) (\(DeviceHolders.name(of: $0)))" }.joined(separator: ", ")
        }
        guard !held.isEmpty else { return nil }
        return "camera held by another program: \(held.joined(separator: "; ")) (libcamera cannot see a camera while another "
            + "program has it); stop that program or choose another camera"
    }

    /// Copies the I420 planes into a pool buffer and hands it on (dropped and counted when none is free).
    private func deliver(_ frame: inout bb_frame, sink: @Sendable (RawFrame) -> Void) {
        guard Int(frame.width) == geometry.width, Int(frame.height) == geometry.height else {
            stats.deviceErrors.add(1, ordering: .relaxed)
            return
        }
        guard let buffer = pool.acquire() else {
            stats.droppedNoBuffer.add(1, ordering: .relaxed)
            return
        }
        let planes = buffer.planes(format: .yuv420, width: geometry.width, height: geometry.height)
        withUnsafePointer(to: frame.planes) { sources in
            sources.withMemoryRebound(to: UnsafePointer<UInt8>?.self, capacity: 3) { source in
                withUnsafePointer(to: frame.strides) { strides in
                    strides.withMemoryRebound(to: Int32.self, capacity: 3) { stride in
                        for (i, plane) in planes.enumerated() {
                            guard let from = source[i] else { continue }
                            for row in 0..<plane.height {
                                plane.row(row).update(from: from + row * Int(stride[i]), count: plane.width)
                            }
                        }
                    }
                }
            }
        }
        sequence += 1
        stats.captured.add(1, ordering: .relaxed)
        tracker.set(.streaming, detail: "I420")
        sink(RawFrame(format: .yuv420, width: geometry.width, height: geometry.height, planes: planes, sequence: sequence,
                      time: .now(), storage: buffer))
    }
}
