import Logging
import Platform
import Synchronization
import Telemetry

#if canImport(Glibc)
import Glibc
#endif

/// Reads an accelerometer through Linux's IIO interface on a thread of its own, and finds impacts in what it reads.
/// The driver's buffer is used where the device has one (the driver's own trigger fills it at the sampling rate, and
/// one read takes many readings, each with the kernel's CLOCK_MONOTONIC timestamp); otherwise the raw sysfs channels are
/// polled at 100 Hz. A device that goes away is looked for again with the shared backoff; recording never waits for it.
public final class IIOAccelerometer: Sendable {
    /// The settings it was made with.
    public let settings: GSensorSettings
    /// Every reading, on the reader's thread (observers hand it on at once).
    public let readings = Observers<AccelSample>()
    /// Every impact, on the reader's thread.
    public let impacts = Observers<Impact>()
    private let worker = Worker()
    private let state: Mutex<Shared>
    private let parked = Atomic<Bool>(false)
    private let logger: Logger
    private let sysfs: String
    private let devices: String

    /// Readings a second asked of the driver and polled from sysfs.
    static let rate = 100
    /// Scans read at once from the buffer (at most).
    static let scansPerRead = 64

    /// A reader for `settings` (started by `start()`); `sysfs` and `devices` are where IIO devices and their nodes are.
    public init(settings: GSensorSettings, logger: Logger, sysfs: String = "/sys/bus/iio/devices", devices: String = "/dev") {
        self.settings = settings
        self.logger = logger
        self.sysfs = sysfs
        self.devices = devices
        state = Mutex(Shared(status: GSensorStatus(device: settings.device, thresholdG: settings.thresholdG)))
    }

    /// Looks for the device and reads until `stop()`.
    public func start() {
        worker.start(name: "gsensor") { [self] in run() }
    }

    /// Stops reading (the buffer is switched off) and joins the thread (within the 200 ms a wait lasts).
    public func stop() {
        worker.stop()
    }

    /// Uses the parking threshold from now on (or the driving one again).
    public func setParked(_ on: Bool) {
        parked.store(on, ordering: .relaxed)
        state.withLock { $0.status.thresholdG = on ? settings.parkingThresholdG : settings.thresholdG }
    }

    /// The status now.
    public func status() -> GSensorStatus {
        let (status, newest) = state.withLock { ($0.status, $0.newest) }
        var s = status
        if let r = newest {
            s.lastG = [r.x, r.y, r.z].map { ($0 / AccelSample.standardGravity * 1000).rounded() / 1000 }
        }
        return s
    }

    private func run() {
        var backoff = Backoff()
        var detector = ImpactDetector(thresholdG: settings.thresholdG)
        while worker.isRunning {
            let problem = session(&detector, &backoff)
            guard worker.isRunning else { break }
            let wait = backoff.next()
            state.withLock {
                $0.status.state = .missing
                $0.status.error = problem
                $0.status.rate = 0
            }
            logger.warning("the accelerometer cannot be read", metadata: ["device": "\(settings.device)", "problem": "\(problem)",
                                                                          "retryInSeconds": "\(Double(wait) / 1e9)"])
            worker.pause(nanos: wait)
        }
    }

    /// The device's folder under `sysfs`, or why there is none.
    private func find() -> Result<(folder: String, node: String, name: String), Problem> {
        var seen: [String] = []
        for entry in Directory.entries(sysfs).sorted() where entry.hasPrefix("iio:device") {
            let name = readSystemFile("\(sysfs)/\(entry)/name") ?? ""
            seen.append("\(entry) (\(name))")
            if entry == settings.device || name == settings.device { return .success(("\(sysfs)/\(entry)", entry, name)) }
        }
        return .failure(Problem("no IIO device named '\(settings.device)'; found: \(seen.isEmpty ? "none" : seen.joined(separator: ", "))"))
    }

    /// Why reading stopped.
    struct Problem: Error {
        let text: String
        init(_ text: String) { self.text = text }
    }

    /// Finds the device and reads it until it fails or the reader stops; returns why it ended.
    private func session(_ detector: inout ImpactDetector, _ backoff: inout Backoff) -> String {
        state.withLock { $0.status.state = .searching }
        let device: (folder: String, node: String, name: String)
        switch find() {
        case .success(let d): device = d
        case .failure(let p): return p.text
        }
        func number(_ file: String) -> Double? { readSystemFile("\(device.folder)/\(file)").flatMap(Double.init) }
        guard let scale = number("in_accel_scale") ?? number("in_accel_x_scale") else {
            return "\(device.node) (\(device.name)) has no in_accel_scale: not an accelerometer"
        }
        let offset = number("in_accel_offset") ?? 0
        state.withLock {
            $0.status.iioDevice = device.node
            $0.status.name = device.name
            $0.status.error = nil
        }
        let convert = { (raw: Int64) in (Double(raw) + offset) * scale }
        var meter = RateMeter()
        let deliver = { [self] (sample: AccelSample) in
            readings.publish(sample)
            detector.thresholdG = parked.load(ordering: .relaxed) ? settings.parkingThresholdG : settings.thresholdG
            let impact = detector.feed(sample)
            if let impact { impacts.publish(impact) }
            let change = detector.change(sample), learned = detector.learned
            let rate = meter.count(sample.monotonicNanos)
            state.withLock {
                $0.newest = sample
                $0.status.samples += 1
                if let rate { $0.status.rate = rate }
                $0.status.changeG = change.map { ($0 * 1000).rounded() / 1000 }
                $0.status.gravityLearned = learned
                if let impact {
                    $0.status.impacts += 1
                    $0.status.lastImpactG = (impact.g * 100).rounded() / 100
                    $0.status.lastImpactAt = Self.wallSeconds(atMonotonic: impact.monotonicNanos)
                }
            }
        }
        if let result = readBuffer(device, convert: convert, backoff: &backoff, deliver: deliver) { return result }
        return pollSysfs(device, convert: convert, backoff: &backoff, deliver: deliver)
    }

    /// Reads through the driver's buffer; nil when the device has none (or refuses to start it), so that sysfs is polled.
    private func readBuffer(_ device: (folder: String, node: String, name: String), convert: (Int64) -> Double, backoff: inout Backoff,
                            deliver: (AccelSample) -> Void) -> String? {
        let folder = device.folder, scan = "\(folder)/scan_elements"
        guard readSystemFile("\(scan)/in_accel_x_en") != nil, readSystemFile("\(folder)/buffer/enable") != nil else { return nil }
        writeSystemFile("\(folder)/buffer/enable", "0")
        // The driver's own trigger (named after the device, e.g. accel_3d-dev0), unless one is set already.
        if (readSystemFile("\(folder)/trigger/current_trigger") ?? "").isEmpty {
            let triggers = Directory.entries(sysfs).filter { $0.hasPrefix("trigger") }.compactMap { readSystemFile("\(sysfs)/\($0)/name") }
            guard let own = triggers.first(where: { $0.hasPrefix(device.name) }) else { return nil }
            if writeSystemFile("\(folder)/trigger/current_trigger", own) != nil { return nil }
        }
        for file in ["in_accel_sampling_frequency", "sampling_frequency"] where readSystemFile("\(folder)/\(file)") != nil {
            writeSystemFile("\(folder)/\(file)", "\(Self.rate)")
        }
        writeSystemFile("\(folder)/current_timestamp_clock", "monotonic")
        var channels: [ScanLayout.Channel] = []
        for entry in Directory.entries(scan) where entry.hasSuffix("_en") {
            let name = String(entry.dropLast(3))
            let wanted = ["in_accel_x", "in_accel_y", "in_accel_z", "in_timestamp"].contains(name)
            writeSystemFile("\(scan)/\(entry)", wanted ? "1" : "0")
            guard wanted else { continue }
            guard let index = readSystemFile("\(scan)/\(name)_index").flatMap(Int.init), let type = readSystemFile("\(scan)/\(name)_type"),
                  let channel = ScanLayout.channel(name: name, index: index, type: type) else { return nil }
            channels.append(channel)
        }
        let layout = ScanLayout(channels)
        guard let x = layout.channels.first(where: { $0.name == "in_accel_x" }), let y = layout.channels.first(where: { $0.name == "in_accel_y" }),
              let z = layout.channels.first(where: { $0.name == "in_accel_z" }) else { return nil }
        let timestamp = layout.channels.first { $0.name == "in_timestamp" }
        let monotonicStamps = readSystemFile("\(folder)/current_timestamp_clock") == "monotonic"
        if writeSystemFile("\(folder)/buffer/enable", "1") != nil { return nil }
        defer { writeSystemFile("\(folder)/buffer/enable", "0") }
        let fd = open("\(devices)/\(device.node)", O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return "cannot open \(devices)/\(device.node): \(String(cString: strerror(errno)))" }
        defer { close(fd) }
        state.withLock {
            $0.status.state = .reading
            $0.status.method = "buffer"
        }
        logger.info("reading the accelerometer", metadata: ["device": "\(device.node)", "name": "\(device.name)", "method": "buffer",
                                                            "scanBytes": "\(layout.size)"])
        var bytes = [UInt8](repeating: 0, count: layout.size * Self.scansPerRead)
        var pending: [UInt8] = []
        var quiet: UInt64 = 0
        while worker.isRunning {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, 200)
            if ready < 0 && errno != EINTR { return "poll: \(String(cString: strerror(errno)))" }
            if poller.revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 { return "\(device.node) (\(device.name)) went away" }
            if ready <= 0 {
                // An unplugged device's node does not always say so: its folder is gone. One that sends nothing for
                // seconds is as good as gone.
                if access(folder, F_OK) != 0 { return "\(device.node) (\(device.name)) went away" }
                quiet += 200
                if quiet >= 5000 { return "\(device.node) (\(device.name)) sent nothing for 5 s" }
                continue
            }
            let n = retryingEINTR { read(fd, &bytes, bytes.count) }
            if n < 0 {
                if errno == EAGAIN { continue }
                return "\(device.node) (\(device.name)) went away (\(String(cString: strerror(errno))))"
            }
            quiet = 0
            backoff.reset()
            pending += bytes[..<n]
            let now = MonotonicClock.nanos()
            var at = 0
            while pending.count - at >= layout.size {
                let stamp = timestamp.map { layout.value($0, in: pending, at: at) }
                let nanos = monotonicStamps ? stamp.map { UInt64(max(0, $0)) } ?? now : now
                deliver(AccelSample(monotonicNanos: nanos, x: convert(layout.value(x, in: pending, at: at)),
                                    y: convert(layout.value(y, in: pending, at: at)), z: convert(layout.value(z, in: pending, at: at))))
                at += layout.size
            }
            pending.removeFirst(at)
        }
        return "stopped"
    }

    /// Polls the raw sysfs channels at `rate` a second.
    private func pollSysfs(_ device: (folder: String, node: String, name: String), convert: (Int64) -> Double, backoff: inout Backoff,
                           deliver: (AccelSample) -> Void) -> String {
        state.withLock {
            $0.status.state = .reading
            $0.status.method = "sysfs"
        }
        logger.info("reading the accelerometer", metadata: ["device": "\(device.node)", "name": "\(device.name)", "method": "sysfs"])
        let period = UInt64(1_000_000_000 / Self.rate)
        var next = MonotonicClock.nanos()
        while worker.isRunning {
            var values: [Int64] = []
            for axis in ["x", "y", "z"] {
                guard let raw = readSystemFile("\(device.folder)/in_accel_\(axis)_raw").flatMap({ Int64($0) }) else {
                    return "\(device.node) went away (in_accel_\(axis)_raw cannot be read)"
                }
                values.append(raw)
            }
            backoff.reset()
            deliver(AccelSample(monotonicNanos: MonotonicClock.nanos(), x: convert(values[0]), y: convert(values[1]), z: convert(values[2])))
            next += period
            let now = MonotonicClock.nanos()
            if next > now { sleepNanos(next - now) } else { next = now }
        }
        return "stopped"
    }
}

extension IIOAccelerometer {
    /// The wall-clock time (Unix seconds) of a moment on the capture clock.
    static func wallSeconds(atMonotonic nanos: UInt64) -> Double {
        var wall = timespec()
        clock_gettime(CLOCK_REALTIME, &wall)
        let ago = Double(Int64(bitPattern: MonotonicClock.nanos() &- nanos)) / 1e9
        return Double(wall.tv_sec) + Double(wall.tv_nsec) / 1e9 - ago
    }
}

/// What the reader's thread and `status()` share: the status, and the newest reading, turned into the status's g
/// values only when the status is asked for (not 100 times a second).
struct Shared {
    var status: GSensorStatus
    var newest: AccelSample?
}

/// Readings per second, said once a second.
struct RateMeter {
    private var since: UInt64?
    private var count = 0

    /// Counts a reading at `nanos`; the rate over the second just ended when one has.
    mutating func count(_ nanos: UInt64) -> Double? {
        count += 1
        guard let start = since else { since = nanos; count = 0; return nil }
        guard nanos &- start >= 1_000_000_000 else { return nil }
        defer { since = nanos; count = 0 }
        return Double(count) / (Double(nanos &- start) / 1e9)
    }
}
