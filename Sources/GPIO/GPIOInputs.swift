import CShims
import Logging
import Platform
import Synchronization
import Telemetry

#if canImport(Glibc)
import Glibc
#endif

/// What a line is for.
public enum GPIORole: String, Sendable, CaseIterable {
    case ignition
    case button
}

/// A debounced change of a line: its new level (true: active) and when its last edge was, on the capture clock.
public struct GPIOChange: Sendable, Equatable {
    /// The line.
    public var role: GPIORole
    /// The level now.
    public var active: Bool
    /// When the level began (its last edge), CLOCK_MONOTONIC nanoseconds.
    public var monotonicNanos: UInt64
    /// The first reading after the line was found (not a change the line made).
    public var initial: Bool
}

/// Reads the ignition and button lines through the kernel's GPIO character device (uAPI v2 ioctls, Linux 5.10 and later;
/// not libgpiod, whose 1.6 that Debian 12 and Raspberry Pi OS bookworm ship speaks the deprecated v1 uAPI and whose 2.x
/// is another API) on a thread of its own. Edges are waited for where the chip interrupts; a chip that cannot is read
/// every 10 ms. Either way a level counts once it has held for the debounce period. A line that cannot be found or read
/// is looked for again with the shared backoff.
public final class GPIOInputs: Sendable {
    /// The settings it was made with.
    public let settings: GPIOSettings
    /// Every debounced change, on the reader's thread (observers hand it on at once).
    public let changes = Observers<GPIOChange>()
    private let worker = Worker()
    private let lines: Mutex<[GPIORole: GPIOLineStatus]>
    private let logger: Logger
    private let devices: String

    /// How often a line of a chip that cannot interrupt is read.
    static let pollNanos: UInt64 = 10_000_000
    /// How often a line watched for edges is read anyway: a chip unplugged, or an edge lost, is seen within this.
    static let checkNanos: UInt64 = 1_000_000_000

    /// A reader of `settings`' lines (started by `start()`); `devices` is where the gpiochip nodes are.
    public init(settings: GPIOSettings, logger: Logger, devices: String = "/dev") {
        self.settings = settings
        self.logger = logger
        self.devices = devices
        var lines: [GPIORole: GPIOLineStatus] = [:]
        for role in GPIORole.allCases { if let spec = Self.spec(role, settings) { lines[role] = GPIOLineStatus(line: spec.description) } }
        self.lines = Mutex(lines)
    }

    private static func spec(_ role: GPIORole, _ settings: GPIOSettings) -> GPIOLineSpec? {
        switch role {
        case .ignition: settings.ignition
        case .button: settings.button
        }
    }

    /// Looks for the lines and reads them until `stop()`.
    public func start() {
        worker.start(name: "gpio") { [self] in run() }
    }

    /// Releases the lines and joins the thread (within the 200 ms a wait lasts).
    public func stop() {
        worker.stop()
    }

    /// Each configured line's status.
    public func status() -> [GPIORole: GPIOLineStatus] {
        lines.withLock { $0 }
    }

    /// A line held open.
    private struct Held {
        let role: GPIORole
        let fd: Int32
        let edges: Bool
        var debouncer: Debouncer
        var nextPoll: UInt64 = 0
    }

    private func run() {
        let roles = GPIORole.allCases.filter { Self.spec($0, settings) != nil }
        var held: [GPIORole: Held] = [:]
        var backoffs: [GPIORole: Backoff] = [:]
        var retryAt: [GPIORole: UInt64] = [:]
        defer { for h in held.values { close(h.fd) } }
        let period = UInt64(settings.debounceMs) * 1_000_000
        while worker.isRunning {
            var now = MonotonicClock.nanos()
            for role in roles where held[role] == nil && now >= retryAt[role, default: 0] {
                switch open(role, period: period, now: now) {
                case .success(let h):
                    held[role] = h
                    backoffs[role, default: Backoff()].reset()
                case .failure(let problem):
                    let wait = backoffs[role, default: Backoff()].next()
                    retryAt[role] = now + wait
                    let changed = lines.withLock { s -> Bool in
                        defer { s[role]?.error = problem.text; s[role]?.active = nil }
                        return s[role]?.error != problem.text
                    }
                    if changed {
                        logger.warning("a GPIO line cannot be read", metadata: ["line": "\(role.rawValue)", "problem": "\(problem.text)",
                                                                                "retryInSeconds": "\(Double(wait) / 1e9)"])
                    }
                }
            }
            // Wait for an edge, the next poll, a level to settle or a retry, but never over 200 ms (stop is checked).
            var until = now + 200_000_000
            for h in held.values {
                if let d = h.debouncer.deadline { until = min(until, d) }
                until = min(until, h.nextPoll)
            }
            for role in roles where held[role] == nil { until = min(until, max(now, retryAt[role, default: now])) }
            var fds = held.values.filter(\.edges).map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            let timeout = Int32((until > now ? until - now + 999_999 : 0) / 1_000_000)
            let ready = poll(&fds, nfds_t(fds.count), timeout)
            if ready < 0 && errno != EINTR { logger.error("GPIO poll failed", metadata: ["errno": "\(errno)"]); return }
            now = MonotonicClock.nanos()
            var gone: [GPIORole: String] = [:]
            for p in fds where p.revents != 0 {
                guard let role = held.first(where: { $0.value.fd == p.fd })?.key else { continue }
                if p.revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 { gone[role] = "the line went away"; continue }
                var nanos: UInt64 = 0
                while true {
                    let id = blackbox_gpio_read_event(p.fd, &nanos)
                    if id < 0 { gone[role] = "reading its edges failed: \(String(cString: strerror(-id)))"; break }
                    if id == 0 { break }
                    if let c = held[role]?.debouncer.observe(id == 1, at: nanos) { deliver(GPIOChange(role: role, active: c.level, monotonicNanos: c.since, initial: false)) }
                }
            }
            for (role, h) in held where now >= h.nextPoll && gone[role] == nil {
                let v = blackbox_gpio_get_value(h.fd)
                if v < 0 { gone[role] = "reading its level failed: \(String(cString: strerror(-v)))"; continue }
                if let c = held[role]?.debouncer.observe(v == 1, at: now) { deliver(GPIOChange(role: role, active: c.level, monotonicNanos: c.since, initial: false)) }
                held[role]?.nextPoll = now + (h.edges ? Self.checkNanos : Self.pollNanos)
            }
            for (role, h) in held where gone[role] == nil {
                guard h.debouncer.deadline.map({ now >= $0 }) == true else { continue }
                // The level is read once more before it counts: an edge the kernel dropped cannot leave a wrong level.
                let v = blackbox_gpio_get_value(h.fd)
                if v < 0 { gone[role] = "reading its level failed: \(String(cString: strerror(-v)))"; continue }
                if let c = held[role]?.debouncer.observe(v == 1, at: now) { deliver(GPIOChange(role: role, active: c.level, monotonicNanos: c.since, initial: false)) }
                if let c = held[role]?.debouncer.settle(now: now) { deliver(GPIOChange(role: role, active: c.level, monotonicNanos: c.since, initial: false)) }
            }
            for (role, problem) in gone {
                if let h = held.removeValue(forKey: role) { close(h.fd) }
                retryAt[role] = now + backoffs[role, default: Backoff()].next()
                lines.withLock {
                    $0[role]?.error = problem
                    $0[role]?.active = nil
                }
                logger.warning("a GPIO line stopped", metadata: ["line": "\(role.rawValue)", "problem": "\(problem)"])
            }
        }
    }

    private func deliver(_ change: GPIOChange) {
        lines.withLock {
            $0[change.role]?.active = change.active
            if !change.initial { $0[change.role]?.changes += 1 }
        }
        changes.publish(change)
    }

    /// Why a line could not be had.
    struct Problem: Error {
        let text: String
    }

    /// Finds `role`'s chip and line, requests it and reads its level (published as an initial change).
    private func open(_ role: GPIORole, period: UInt64, now: UInt64) -> Result<Held, Problem> {
        guard let spec = Self.spec(role, settings) else { return .failure(Problem(text: "not configured")) }
        var seen: [String] = []
        var found: (fd: Int32, node: String, lines: UInt32)?
        for entry in Directory.entries(devices).sorted() where entry.hasPrefix("gpiochip") {
            let fd = Glibc.open("\(devices)/\(entry)", O_RDWR | O_CLOEXEC)
            guard fd >= 0 else { seen.append("\(entry) (\(String(cString: strerror(errno))))"); continue }
            var name = [CChar](repeating: 0, count: 32), label = [CChar](repeating: 0, count: 32)
            var count: UInt32 = 0
            guard blackbox_gpio_chip_info(fd, &name, &label, &count) == 0 else { close(fd); continue }
            let n = String(cString: name), l = String(cString: label)
            seen.append("\(n) (\(l))")
            if found == nil, spec.chip == l || spec.chip == n || "gpiochip" + spec.chip == n {
                found = (fd, entry, count)
            } else {
                close(fd)
            }
        }
        guard let chip = found else {
            return .failure(Problem(text: "no GPIO chip '\(spec.chip)'; found: \(seen.isEmpty ? "none" : seen.joined(separator: ", "))"))
        }
        defer { close(chip.fd) }
        var offset: UInt32?
        var names: [String] = []
        for i in 0..<chip.lines {
            var name = [CChar](repeating: 0, count: 32)
            var used: Int32 = 0
            guard blackbox_gpio_line_info(chip.fd, i, &name, &used) == 0 else { continue }
            let n = String(cString: name)
            if !n.isEmpty { names.append(n) }
            if n == spec.line { offset = i }
        }
        if offset == nil, let i = UInt32(spec.line), i < chip.lines { offset = i }
        guard let offset else {
            let named = names.isEmpty ? "its lines have no names" : "named: \(names.prefix(8).joined(separator: ", "))"
            return .failure(Problem(text: "\(chip.node) has no line '\(spec.line)' (offsets 0 to \(chip.lines &- 1); \(named))"))
        }
        let bias: Int32 = switch settings.bias {
        case .asIs: 0
        case .pullUp: 1
        case .pullDown: 2
        case .disabled: 3
        }
        let consumer = "blackbox-\(role.rawValue)"
        var edges = true
        var fd = blackbox_gpio_request_input(chip.fd, offset, settings.activeLow ? 1 : 0, bias, 1, consumer)
        if fd == -EINVAL || fd == -ENXIO || fd == -EOPNOTSUPP || fd == -ENOTSUP {
            // The chip cannot interrupt on this line: its level is read instead.
            edges = false
            fd = blackbox_gpio_request_input(chip.fd, offset, settings.activeLow ? 1 : 0, bias, 0, consumer)
        }
        guard fd >= 0 else {
            let why = fd == -EBUSY ? "it is in use by another program or driver" : String(cString: strerror(-fd))
            return .failure(Problem(text: "\(chip.node) line \(offset) cannot be requested: \(why)"))
        }
        let level = blackbox_gpio_get_value(fd)
        guard level >= 0 else {
            close(fd)
            return .failure(Problem(text: "\(chip.node) line \(offset) cannot be read: \(String(cString: strerror(-level)))"))
        }
        var debouncer = Debouncer(periodNanos: period)
        debouncer.observe(level == 1, at: now)
        lines.withLock {
            $0[role]?.device = "\(devices)/\(chip.node)"
            $0[role]?.offset = offset
            $0[role]?.method = edges ? "edges" : "polled"
            $0[role]?.error = nil
        }
        logger.info("reading a GPIO line", metadata: ["line": "\(role.rawValue)", "chip": "\(chip.node)", "offset": "\(offset)",
                                                      "method": "\(edges ? "edges" : "polled")", "active": "\(level == 1)"])
        deliver(GPIOChange(role: role, active: level == 1, monotonicNanos: now, initial: true))
        return .success(Held(role: role, fd: fd, edges: edges, debouncer: debouncer, nextPoll: now + (edges ? Self.checkNanos : Self.pollNanos)))
    }
}
