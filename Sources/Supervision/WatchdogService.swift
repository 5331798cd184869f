import Cameras
import Logging
import ServiceLifecycle

/// Tells systemd how the daemon is: STATUS= with a one-line summary, WATCHDOG=1 only while every
/// camera's pipeline and recorder make progress (so a stuck pipeline gets the daemon restarted),
/// and STOPPING=1 at shutdown. READY=1 is sent by whoever knows the server is listening.
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

    /// Progress counters of every camera: frames published, recorder loop turns.
    private func counters() -> [UInt64] {
        cameras.flatMap { c in [c.bus.published.load(ordering: .relaxed), c.recorder?.heartbeat.load(ordering: .relaxed) ?? 0] }
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
        let tick = notifier.watchdogInterval.map { $0 / 2 } ?? .seconds(5)
        var last = counters()
        var stalled = false
        await withGracefulShutdownHandler {
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                try? await Task.sleep(for: tick)
                let now = counters()
                let progressed = zip(last, now).allSatisfy { $0 < $1 }
                last = now
                notifier.send("STATUS=\(summary())")
                if progressed {
                    if stalled { logger.notice("pipeline moving again; watchdog pings resume") }
                    stalled = false
                    if notifier.watchdogInterval != nil { notifier.send("WATCHDOG=1") }
                } else if !stalled {
                    stalled = true
                    logger.error("pipeline stalled: no progress since the last check; watchdog pings stop so systemd can restart the daemon")
                }
            }
        } onGracefulShutdown: {
            notifier.send("STOPPING=1")
        }
    }
}
