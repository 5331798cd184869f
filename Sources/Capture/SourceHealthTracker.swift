import Frames
import Platform
import Logging
import Synchronization

/// Keeps a device source's health, logs each change once, and shows NO SIGNAL while it is down.
public final class SourceHealthTracker: Sendable {
    private let state = Mutex(SourceHealth(state: "starting", reason: nil))
    private let cameraID: String
    private let device: String
    private let logger: Logger

    /// A tracker for `cameraID` reading `device` (named in its log lines).
    public init(cameraID: String, device: String, logger: Logger) {
        self.cameraID = cameraID
        self.device = device
        self.logger = logger
    }

    /// The health now.
    public var current: SourceHealth { state.withLock { $0 } }

    /// Sets the health, logging a change once.
    public func set(_ h: SourceHealth, detail: String = "") {
        let changed = state.withLock { old -> Bool in
            defer { old = h }
            return old != h
        }
        guard changed else { return }
        if h.state == "streaming" {
            logger.info("camera streaming", metadata: ["camera": "\(cameraID)", "device": "\(device)", "format": "\(detail)"])
        } else {
            logger.error("camera has no signal", metadata: ["camera": "\(cameraID)", "device": "\(device)", "reason": "\(h.reason ?? "")"])
        }
    }

    /// Marks the source down and shows the NO SIGNAL picture for `nanos`, or until `running` turns false: every
    /// quarter second in the outage's first second, then once a second.
    public func noSignal(for nanos: UInt64, reason: String, pool: BufferPool, geometry: FrameGeometry, sequence: inout UInt64,
                  running: () -> Bool, sink: @Sendable (RawFrame) -> Void) {
        set(SourceHealth(state: "no signal", reason: reason))
        let start = MonotonicClock.nanos()
        let end = start + nanos
        var nextFrame: UInt64 = 0
        while running() {
            let now = MonotonicClock.nanos()
            if now >= end { return }
            if now >= nextFrame {
                // One card can be lost (an encoder still busy with the last live picture, no free buffer that instant),
                // and the first outage lasts only the first retry's 1 s: with a single card, viewers and the file
                // could show no gap at all. A card every quarter second through the first second makes that loss unlikely; after that, one a second
                // is enough and costs little through a long outage.
                if let buffer = pool.acquire() {
                    sequence += 1
                    sink(NoSignalFrame.render(into: buffer, width: geometry.width, height: geometry.height, cameraID: cameraID,
                                              reason: reason, sequence: sequence))
                    nextFrame = now + (now - start < Self.denseNanos ? Self.denseNanos / 4 : 1_000_000_000)
                } else {
                    nextFrame = now + 50_000_000
                }
            }
            sleepNanos(min(50_000_000, min(end, nextFrame) - now))
        }
    }

    /// How long after a loss the card is shown more often than once a second.
    private static let denseNanos: UInt64 = 1_000_000_000
}
