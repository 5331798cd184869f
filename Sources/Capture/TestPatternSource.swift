import Frames
import Platform
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A synthetic camera: colour bars with the camera id, a moving box and a frame counter, as
/// planar YUV 4:2:0, paced by the monotonic clock. The default when no camera is configured,
/// so that streaming, recording and the UI can be tried on any machine.
public final class TestPatternSource: FrameSource, @unchecked Sendable {
    /// Camera id drawn into the picture.
    public let cameraID: String
    /// Size and rate.
    public let geometry: FrameGeometry
    /// Produced / dropped / late counters.
    public let stats = SourceStats()

    private let pool: BufferPool
    // A one-buffer pool outside the lending pool holds the static picture copied into each frame.
    private let backgroundPool: BufferPool
    private let background: BufferPool.Buffer
    private let worker = Worker()
    /// With a flash, the first frame of each second (of the monotonic clock) is all white, and its time is noted there.
    private let flash: SyncFlash?
    /// The second of the monotonic clock the last frame was captured in (only the capture thread uses it).
    private var lastSecond: UInt64 = .max

    /// Creates a source; `poolSize` buffers are allocated now and reused for every frame. With `flash`, it flashes white
    /// once a second (the test click's picture).
    public init(cameraID: String, geometry: FrameGeometry, poolSize: Int = 8, flash: SyncFlash? = nil) {
        self.flash = flash
        self.cameraID = cameraID
        self.geometry = geometry
        let bytes = BufferPool.Buffer.byteCount(format: .yuv420, width: geometry.width, height: geometry.height)
        pool = BufferPool(count: poolSize, bytesPerBuffer: bytes)
        backgroundPool = BufferPool(count: 1, bytesPerBuffer: bytes)
        background = backgroundPool.acquire()!
        TestPatternSource.paintBackground(background.planes(format: .yuv420, width: geometry.width, height: geometry.height), id: cameraID)
    }

    /// `testpattern WxH@FPS`.
    public var description: String { "testpattern \(geometry)" }

    /// Starts the pacing thread.
    public func start(sink: @escaping @Sendable (RawFrame) -> Void) throws {
        try worker.start(name: "cap-\(cameraID)", source: description) { [self] in run(sink: sink) }
    }

    /// Stops the pacing thread and waits for it (at most one sleep slice, 50 ms).
    public func stop() {
        worker.stop()
    }

    private func run(sink: @Sendable (RawFrame) -> Void) {
        var pacer = FramePacer(fps: geometry.fps)
        let stall = FaultInjection.stall(.capture)
        var sequence: UInt64 = 0
        while let slot = pacer.next(while: { worker.isRunning }) {
            stall?.hold(while: { worker.isRunning })  // fault injection: once due, the capture loop hangs here
            if slot.missed > 0 {
                stats.late.add(slot.missed, ordering: .relaxed)
                sequence += slot.missed
            }
            guard let buffer = pool.acquire() else {
                stats.droppedNoBuffer.add(1, ordering: .relaxed)
                sequence += 1
                continue
            }
            let frame = makeFrame(in: buffer, sequence: sequence, time: .at(monotonicNanos: slot.due))
            sequence += 1
            stats.captured.add(1, ordering: .relaxed)
            sink(frame)
        }
    }

    /// Renders frame number `sequence`, captured at `time`, into `buffer` (exposed for tests).
    public func makeFrame(in buffer: BufferPool.Buffer, sequence: UInt64, time: CaptureTime = .now()) -> RawFrame {
        buffer.bytes.copyMemory(from: background.bytes, byteCount: background.count)
        let planes = buffer.planes(format: .yuv420, width: geometry.width, height: geometry.height)
        TestPatternSource.paintMotion(planes, sequence: sequence)
        let second = time.monotonicNanos / 1_000_000_000
        if let flash, second != lastSecond {
            if lastSecond != .max {
                for (i, plane) in planes.enumerated() {
                    for row in 0..<plane.height { plane.row(row).update(repeating: i == 0 ? 235 : 128, count: plane.width) }
                }
                flash.last.store(time.monotonicNanos, ordering: .releasing)
            }
            lastSecond = second
        }
        return RawFrame(format: .yuv420, width: geometry.width, height: geometry.height, planes: planes,
                        sequence: sequence, time: time, storage: buffer)
    }

    /// Takes a buffer from the source's pool (for tests and tools that render single frames).
    public func acquireBuffer() -> BufferPool.Buffer? { pool.acquire() }

    // 75 % colour bars (BT.601 limited range): white, yellow, cyan, green, magenta, red, blue, black.
    private static let bars: [(y: UInt8, u: UInt8, v: UInt8)] = [
        (180, 128, 128), (162, 44, 142), (131, 156, 44), (112, 72, 58),
        (84, 184, 198), (65, 100, 212), (35, 212, 114), (16, 128, 128),
    ]

    private static func paintBackground(_ planes: [Plane], id: String) {
        let (yp, up, vp) = (planes[0], planes[1], planes[2])
        let barsBottom = yp.height * 3 / 5
        for row in 0..<yp.height {
            let line = yp.row(row)
            for x in 0..<yp.width {
                if row < barsBottom {
                    line[x] = bars[x * bars.count / yp.width].y
                } else {
                    line[x] = UInt8(16 + x * 219 / max(1, yp.width - 1))
                }
            }
        }
        for row in 0..<up.height {
            let (u, v) = (up.row(row), vp.row(row))
            let inBars = row * 2 < barsBottom
            for x in 0..<up.width {
                let bar = bars[min(bars.count - 1, x * 2 * bars.count / yp.width)]
                u[x] = inBars ? bar.u : 128
                v[x] = inBars ? bar.v : 128
            }
        }
        let scale = max(2, yp.height / 60)
        let label = id.uppercased()
        let size = BitmapFont.size(of: label, scale: scale)
        BitmapFont.drawLabel(label, on: planes, x: (yp.width - size.width) / 2, y: (barsBottom - size.height) / 2,
                             scale: scale, padding: scale * 2)
        let small = max(1, scale / 3)
        let caption = "BLACKBOX TEST PATTERN"
        let capSize = BitmapFont.size(of: caption, scale: small)
        BitmapFont.drawLabel(caption, on: planes, x: (yp.width - capSize.width) / 2,
                             y: (barsBottom + size.height) / 2 + scale * 4, scale: small, padding: small * 2)
    }

    private static func paintMotion(_ planes: [Plane], sequence: UInt64) {
        let y = planes[0]
        // A box sweeping across the grey ramp, a few pixels per frame, so consecutive frames always differ.
        let box = max(8, y.height / 8)
        let travel = y.width + box
        let x = Int((sequence * UInt64(max(2, y.width / 160))) % UInt64(travel)) - box
        let top = y.height * 3 / 5 + (y.height * 2 / 5 - box) / 2
        BitmapFont.fill(y, x: x, y: top, width: box, height: box, value: 235)
        BitmapFont.fill(y, x: x + box / 4, y: top + box / 4, width: box / 2, height: box / 2, value: 16)
        let scale = max(1, y.height / 240)
        let counter = "#\(sequence)"
        let size = BitmapFont.size(of: counter, scale: scale)
        BitmapFont.draw(counter, on: y, x: y.width - size.width - 4 * scale, y: y.height - size.height - 4 * scale,
                        scale: scale, padding: scale)
    }
}
