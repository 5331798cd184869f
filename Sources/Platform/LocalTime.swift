#if canImport(Glibc)
import Glibc
#endif

/// Local-time formatting for the overlay, file names and metadata.
public enum LocalTime {
    /// Broken-down local time of `seconds` since the epoch.
    static func parts(_ seconds: Int) -> tm {
        var t = time_t(seconds)
        var out = tm()
        localtime_r(&t, &out)
        return out
    }

    private static func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }

    /// `2026-11-24T10:15:00.123+09:00` (milliseconds when given).
    public static func iso8601(_ seconds: Int, millis: Int? = nil) -> String {
        let p = parts(seconds)
        let off = p.tm_gmtoff
        let sign = off < 0 ? "-" : "+"
        let a = abs(off)
        let fraction = millis.map { "." + String(1000 + $0).dropFirst() } ?? ""
        return "\(p.tm_year + 1900)-\(two(p.tm_mon + 1))-\(two(p.tm_mday))T\(two(p.tm_hour)):\(two(p.tm_min)):\(two(p.tm_sec))"
            + "\(fraction)\(sign)\(two(Int32(a / 3600))):\(two(Int32(a % 3600 / 60)))"
    }

    /// `2026-11-24 10:15:00`: the clock of the overlay.
    public static func clock(_ seconds: Int) -> String {
        let p = parts(seconds)
        return "\(p.tm_year + 1900)-\(two(p.tm_mon + 1))-\(two(p.tm_mday)) \(two(p.tm_hour)):\(two(p.tm_min)):\(two(p.tm_sec))"
    }

    /// (`2026-11-24`, `20261124-101500`): the day folder and the file-name stamp.
    public static func stamp(_ seconds: Int) -> (day: String, stamp: String) {
        let p = parts(seconds)
        let y = "\(p.tm_year + 1900)", m = two(p.tm_mon + 1), d = two(p.tm_mday)
        return ("\(y)-\(m)-\(d)", "\(y)\(m)\(d)-\(two(p.tm_hour))\(two(p.tm_min))\(two(p.tm_sec))")
    }

    /// Seconds since the epoch of local midnight starting `day` (YYYY-MM-DD), nil when it is not a day.
    public static func midnight(_ day: String) -> Int? {
        let parts = day.split(separator: "-").compactMap { Int32($0) }
        guard parts.count == 3 else { return nil }
        var t = tm()
        t.tm_year = parts[0] - 1900
        t.tm_mon = parts[1] - 1
        t.tm_mday = parts[2]
        t.tm_isdst = -1
        let seconds = mktime(&t)
        return seconds == -1 ? nil : Int(seconds)
    }
}
