import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// CPU, memory and temperature of the machine and the daemon, for the status panel. Percentages
/// cover the time since the previous reading (at least 0.5 s apart; closer calls get the last one).
public final class SystemLoad: Sendable {
    /// One reading.
    public struct Reading: Codable, Sendable, Equatable {
        /// The daemon's CPU use, percent of one core.
        public var processCPUPercent: Double?
        /// The whole machine's CPU use, percent of all cores.
        public var systemCPUPercent: Double?
        /// Cores online.
        public var cores: Int
        /// SoC temperature in °C, where the machine reports one.
        public var temperatureC: Double?
        /// The daemon's resident memory, MiB.
        public var residentMB: Double?
        /// One-minute load average.
        public var loadAverage: Double?
    }

    private struct Sample {
        var mono: UInt64
        var processTicks: UInt64
        var busy: UInt64
        var total: UInt64
        var reading: Reading
    }

    private let last = Mutex<Sample?>(nil)
    private let root: String

    /// Reads `/proc` and `/sys` under `root` ("" on a real machine; a folder in tests).
    public init(root: String = "") {
        self.root = root
    }

    private func read(_ path: String) -> String? { readSystemFile(root + path) }

    /// utime + stime of this process, in clock ticks (fields 14 and 15, counted after the `)` of the name).
    private func processTicks() -> UInt64? {
        guard let stat = read("/proc/self/stat"), let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = UInt64(fields[11]), let system = UInt64(fields[12]) else { return nil }
        return user + system
    }

    /// Busy and total ticks of all cores from the first line of /proc/stat.
    private func systemTicks() -> (busy: UInt64, total: UInt64)? {
        guard let line = read("/proc/stat")?.split(separator: "\n").first, line.hasPrefix("cpu ") else { return nil }
        let values = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
        guard values.count >= 4 else { return nil }
        let total = values.prefix(8).reduce(0, +)
        let idle = values[3] + (values.count > 4 ? values[4] : 0)
        return (total - idle, total)
    }

    /// SoC temperature in °C (to 0.1), where the machine reports one.
    public func temperature() -> Double? {
        read("/sys/class/thermal/thermal_zone0/temp").flatMap(Double.init).map { ($0 / 100).rounded() / 10 }
    }

    /// A reading now.
    public func reading() -> Reading {
        let now = MonotonicClock.nanos()
        return last.withLock { previous in
            if let previous, now &- previous.mono < 500_000_000 { return previous.reading }
            let ticks = processTicks() ?? 0
            let sys = systemTicks() ?? (0, 0)
            var reading = Reading(cores: sysconf(Int32(_SC_NPROCESSORS_ONLN)))
            if let previous {
                let seconds = Double(now &- previous.mono) / 1e9
                let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
                reading.processCPUPercent = (Double(ticks &- previous.processTicks) / hz / seconds * 1000).rounded() / 10
                let total = sys.total &- previous.total
                if total > 0 { reading.systemCPUPercent = (Double(sys.busy &- previous.busy) / Double(total) * 1000).rounded() / 10 }
            }
            reading.temperatureC = temperature()
            if let pages = read("/proc/self/statm")?.split(separator: " ").dropFirst().first.flatMap({ Double($0) }) {
                reading.residentMB = (pages * Double(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576 * 10).rounded() / 10
            }
            reading.loadAverage = read("/proc/loadavg")?.split(separator: " ").first.flatMap { Double($0) }
            previous = Sample(mono: now, processTicks: ticks, busy: sys.busy, total: sys.total, reading: reading)
            return reading
        }
    }
}
