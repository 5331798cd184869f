import Foundation
import Logging
import Platform
import Synchronization
import Telemetry

#if canImport(Glibc)
import Glibc
#endif

/// Reads the receiver's reports from gpsd over its JSON protocol, on a thread of its own. gpsd's JSON is spoken rather
/// than libgps linked: libgps's API changed between gpsd releases, the protocol (major version 3) did not. gpsd gone,
/// restarted or without a fix is said in the status; the connection is made again with the shared backoff.
public final class GPSDClient: Sendable {
    /// The settings it was made with.
    public let settings: GPSSettings
    /// One report (the last TPV of a receiver's cycle), with or without a fix, on the client's thread: observers hand it on at once.
    public let reports = Observers<GPSFix>()
    /// The picture's GPS line each time it changes, on the client's thread (it is checked at least 5 times a second).
    public let overlayLines = Observers<String>()
    private let worker = Worker()
    private let state: Mutex<GPSStatus>
    private let shownLine = Mutex("")
    private let logger: Logger

    /// Reports older than this are no fix any more (a receiver that stopped talking).
    static let staleNanos: UInt64 = 3_000_000_000
    /// A TPV with no later one of the same time for this long is the last of its cycle.
    static let cycleNanos: UInt64 = 500_000_000
    /// The protocol major version this client reads.
    static let protocolMajor = 3
    /// Longest line accepted from gpsd (a SKY with many satellites is a few KB).
    static let maxLine = 65536

    /// A client for `settings` (started by `start()`).
    public init(settings: GPSSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
        state = Mutex(GPSStatus(gpsd: settings.address, units: settings.units, tiles: settings.tiles))
    }

    /// Connects and reads until `stop()`.
    public func start() {
        worker.start(name: "gpsd") { [self] in run() }
    }

    /// Closes the connection and joins the thread (within the 200 ms a read waits).
    public func stop() {
        worker.stop()
    }

    /// The status now: the state, the newest report and its age, the overlay's line.
    public func status() -> GPSStatus {
        var s = state.withLock { $0 }
        let now = MonotonicClock.nanos()
        if let last = s.last {
            let age = MonotonicClock.elapsed(from: last.monotonicNanos, to: now)
            s.lastAgeSeconds = Double(age) / 1e9
            if s.state == .fix, age > Self.staleNanos { s.state = .noFix }
        }
        s.speed = s.state == .fix ? s.last?.speed.map(settings.units.convert) : nil
        s.overlay = Self.overlayLine(s, settings: settings)
        return s
    }

    /// The line the picture shows for `status`: speed, heading and (if wanted) position with a fix, else what is wrong.
    static func overlayLine(_ s: GPSStatus, settings: GPSSettings) -> String {
        switch s.state {
        case .connecting: return "GPS: CONNECTING"
        case .noGpsd: return "GPS: NO GPSD"
        case .noFix: return "GPS: NO FIX"
        case .fix:
            guard let fix = s.last else { return "GPS: NO FIX" }
            var line = "\(Int((settings.units.convert(fix.speed ?? 0)).rounded())) \(settings.units.symbol.uppercased())"
            if let heading = fix.heading {
                let points = ["N", "NE", "E", "SE", "S", "SW", "W", "NW"]
                let degrees = Int(heading.rounded()) % 360
                line += "  \(points[Int(((heading + 22.5) / 45).rounded(.down)) % 8]) \(degrees)"
            }
            if settings.overlayPosition, let lat = fix.latitude, let lon = fix.longitude {
                line += "  " + String(format: "%.5f", abs(lat)) + (lat < 0 ? "S" : "N") + " " + String(format: "%.5f", abs(lon)) + (lon < 0 ? "W" : "E")
            }
            return line
        }
    }

    private func update(_ body: (inout GPSStatus) -> Void) {
        state.withLock { body(&$0) }
    }

    /// Publishes the overlay's line if it changed (a fix going stale changes it without any report).
    private func publishOverlay() {
        let line = status().overlay
        let changed = shownLine.withLock { shown -> Bool in
            defer { shown = line }
            return shown != line
        }
        if changed { overlayLines.publish(line) }
    }

    private func run() {
        var backoff = Backoff()
        while worker.isRunning {
            let error = session(&backoff)
            guard worker.isRunning else { break }
            let wait = backoff.next()
            update {
                $0.state = .noGpsd
                $0.error = error
            }
            logger.warning("gpsd cannot be used", metadata: ["gpsd": "\(settings.address)", "problem": "\(error)",
                                                           "retryInSeconds": "\(Double(wait) / 1e9)"])
            worker.pause(nanos: wait) { publishOverlay() }
        }
    }

    /// One connection: the watch asked for, lines read until it fails or the client stops. Returns why it ended.
    private func session(_ backoff: inout Backoff) -> String {
        update { $0.state = .connecting }
        let fd: Int32
        do {
            fd = try connectTCP(host: settings.host, port: settings.port)
        } catch {
            return error.description
        }
        defer { close(fd) }
        let watch = Array("?WATCH={\"enable\":true,\"json\":true}\n".utf8)
        let sent = watch.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == watch.count else { return "gpsd took no command: \(String(cString: strerror(errno)))" }
        update {
            $0.connects += 1
            $0.error = nil
        }
        var input: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 8192)
        var lastReport = MonotonicClock.nanos()
        var versionSeen = false
        var pending: GPSFix?
        defer { if let pending { reports.publish(pending) } }
        while worker.isRunning {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = retryingEINTR { poll(&p, 1, 200) }
            if ready < 0 { return "poll: \(String(cString: strerror(errno)))" }
            if ready > 0 {
                let n = retryingEINTR { recv(fd, &chunk, chunk.count, 0) }
                if n == 0 { return "gpsd closed the connection" }
                if n < 0 { return "reading from gpsd: \(String(cString: strerror(errno)))" }
                input += chunk[..<n]
                while let newline = input.firstIndex(of: 10) {
                    let line = input[..<newline]
                    defer { input.removeSubrange(...newline) }
                    switch handle(line) {
                    case .report(let fix):
                        lastReport = MonotonicClock.nanos()
                        backoff.reset()
                        // gpsd sends a TPV for each sentence of a cycle (RMC, then GGA with the altitude, ...), all
                        // with the cycle's time: the last, most complete one of a time is the one recorded.
                        if let held = pending, held.time != fix.time || fix.time == nil { reports.publish(held) }
                        pending = fix
                    case .version: versionSeen = true
                    case .refused(let why): return why
                    case .other: break
                    }
                }
                if input.count > Self.maxLine {
                    update { $0.unreadable += 1 }
                    return "gpsd sent a line longer than \(Self.maxLine) bytes"
                }
            }
            // A cycle is over when nothing more came for a while (a receiver reports once a second or faster).
            if let held = pending, MonotonicClock.nanos() &- held.monotonicNanos > Self.cycleNanos {
                reports.publish(held)
                pending = nil
            }
            publishOverlay()
            // Connected, but no report: gpsd has no receiver, or the receiver is silent.
            if MonotonicClock.nanos() &- lastReport > Self.staleNanos {
                update {
                    if $0.state != .noFix { $0.state = .noFix }
                    $0.error = versionSeen ? "no report from a receiver for 3 s" : "gpsd sent no VERSION"
                }
            }
        }
        return "stopped"
    }

    private enum Handled {
        case report(GPSFix)
        case version, other
        case refused(String)
    }

    /// Reads one JSON object from gpsd; fields that come and go between versions and receivers are all optional.
    private func handle(_ line: ArraySlice<UInt8>) -> Handled {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any], let kind = object["class"] as? String else {
            if !line.allSatisfy({ $0 == 13 || $0 == 32 }) { update { $0.unreadable += 1 } }
            return .other
        }
        switch kind {
        case "VERSION":
            let major = (object["proto_major"] as? NSNumber)?.intValue ?? -1
            let minor = (object["proto_minor"] as? NSNumber)?.intValue ?? 0
            let release = object["release"] as? String ?? "?"
            guard major == Self.protocolMajor else {
                return .refused("gpsd \(release) speaks protocol \(major).\(minor); Blackbox reads protocol \(Self.protocolMajor)")
            }
            update { $0.release = "\(release) (protocol \(major).\(minor))" }
            logger.info("gpsd connected", metadata: ["gpsd": "\(settings.address)", "release": "\(release)"])
            return .version
        case "TPV":
            let fix = Self.fix(object, now: MonotonicClock.nanos())
            let wall = Date().timeIntervalSince1970
            update { s in
                s.reports += 1
                s.last = fix
                s.state = fix.hasPosition ? .fix : .noFix
                s.error = fix.hasPosition ? nil : "the receiver has no fix"
                if let time = fix.time, fix.mode != .none {
                    s.clockOffsetSeconds = ((time - wall) * 1000).rounded() / 1000
                    s.clockChecked = abs(time - wall) < 1
                }
            }
            return .report(fix)
        case "SKY":
            let satellites = object["satellites"] as? [[String: Any]]
            let used = (object["uSat"] as? NSNumber)?.intValue ?? satellites?.filter { ($0["used"] as? Bool) == true }.count
            let seen = (object["nSat"] as? NSNumber)?.intValue ?? satellites?.count
            update {
                if let used { $0.satellitesUsed = used }
                if let seen { $0.satellitesSeen = seen }
            }
            return .other
        case "ERROR":
            return .refused("gpsd said: \((object["message"] as? String ?? "?").prefix(200))")
        default:
            return .other
        }
    }

    /// A TPV object as a fix.
    static func fix(_ o: [String: Any], now: UInt64) -> GPSFix {
        func number(_ key: String) -> Double? {
            guard let n = o[key] as? NSNumber else { return nil }
            let v = n.doubleValue
            return v.isFinite ? v : nil
        }
        let mode = GPSFix.Mode(rawValue: Int(number("mode") ?? 0)) ?? .none
        let horizontal = number("eph") ?? zip2(number("epx"), number("epy")).map { max($0, $1) }
        return GPSFix(monotonicNanos: now, mode: mode, time: (o["time"] as? String).flatMap(parseTime), latitude: number("lat"),
                      longitude: number("lon"), altitude: number("altMSL") ?? number("alt"), speed: number("speed"), heading: number("track"),
                      horizontalError: horizontal, verticalError: number("epv"))
    }

    private static func zip2(_ a: Double?, _ b: Double?) -> (Double, Double)? {
        guard let a, let b else { return nil }
        return (a, b)
    }

    /// `2005-06-08T10:34:48.283Z` as Unix seconds.
    static func parseTime(_ text: String) -> Double? {
        let parts = text.split(whereSeparator: { "-T:Z".contains($0) })
        guard parts.count >= 6, let year = Int32(parts[0]), let month = Int32(parts[1]), let day = Int32(parts[2]), let hour = Int32(parts[3]),
              let minute = Int32(parts[4]), let second = Double(parts[5]) else { return nil }
        var t = tm()
        t.tm_year = year - 1900
        t.tm_mon = month - 1
        t.tm_mday = day
        t.tm_hour = hour
        t.tm_min = minute
        t.tm_sec = 0
        return Double(timegm(&t)) + second
    }
}
