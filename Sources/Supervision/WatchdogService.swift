import Cameras
import Foundation
import Frames
import Platform
import Logging
import ServiceLifecycle

/// Tells systemd how the daemon is: STATUS= with a one-line summary, WATCHDOG=1 only while every stage of
/// every camera's pipeline that has work makes progress (capture, the encoders actually running, motion
/// analysis, the recorder: so a stuck thread gets the daemon restarted), and STOPPING=1 at shutdown. READY=1 is sent by whoever knows the server is listening.
public struct WatchdogService: Service {
    private let cameras: [Camera]
    private let notifier: SystemdNotifier
    private let logger: Logger

    /// Creates the service.
    public init(cameras: [Camera], notifier: SystemdNotifier, logger: Logger) {
        self.cameras = cameras
        self.notifier = notifier
        self.logger = logger
    }


    /// `front 30.0 fps recording; rear no signal`.
    func summary() -> String {
        cameras.map { c in
            let s = c.status()
            var text = "\(s.id) " + (s.state == "streaming" ? String(format: "%.1f fps", s.measuredFps) : s.state)
            if let r = s.recording { text += " \(r.state.rawValue)" }
            return text
        }.joined(separator: "; ")
    }

    /// Pings and reports until shutdown, then says STOPPING=1.
    public func run() async throws {
        guard notifier.isEnabled else {
            try? await gracefulShutdown()
            return
        }
        // Checked at half the interval systemd expects, so one late check never costs a restart.
        let tick = notifier.watchdogInterval.map { $0 / 2 } ?? .seconds(5)
        var detector = StallDetector(interval: tick)
        _ = detector.check(cameras.flatMap { $0.progress() }, now: MonotonicClock.nanos())
        var stalled = false
        await withGracefulShutdownHandler {
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                try? await Task.sleep(for: tick)
                let stalls = detector.check(cameras.flatMap { $0.progress() }, now: MonotonicClock.nanos())
                notifier.send("STATUS=\(summary())")
                if stalls.isEmpty {
                    if stalled { logger.notice("pipeline moving again; watchdog pings resume") }
                    stalled = false
                    if notifier.watchdogInterval != nil { notifier.send("WATCHDOG=1") }
                } else if !stalled {
                    stalled = true
                    let which = stalls.map { "\($0.stage) (\(String(format: "%.1f", $0.seconds)) s)" }.joined(separator: ", ")
                    logger.error("pipeline stalled: no progress with work waiting; watchdog pings stop so systemd can restart the daemon",
                                 metadata: ["stages": "\(which)"])
                }
            }
        } onGracefulShutdown: {
            notifier.send("STOPPING=1")
        }
    }
}
