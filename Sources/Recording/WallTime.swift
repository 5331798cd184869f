import Foundation
import Frames
import Platform

/// RFC 3339 times as the API and the command line take and give them, as Unix nanoseconds.
public enum WallTime {
    /// Nanoseconds of `text` (`2026-11-25T14:03:30Z`, `…30.5+01:00`, `t`/`z` or a space as RFC 3339
    /// allows; a leap second counts as :59), nil when it is not RFC 3339.
    public static func parse(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= b.count, range.allSatisfy({ (48...57).contains(b[$0]) }) else { return nil }
            return range.reduce(0) { $0 * 10 + Int(b[$1] - 48) }
        }
        guard b.count >= 20, b[4] == 45, b[7] == 45, [84, 116, 32].contains(b[10]), b[13] == 58, b[16] == 58,
              let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second <= 60 else { return nil }
        var i = 19
        var nanos = 0
        if b[i] == 46 {
            var digits = 0
            i += 1
            while i < b.count, (48...57).contains(b[i]) {
                if digits < 9 { nanos = nanos * 10 + Int(b[i] - 48); digits += 1 }
                i += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<9 { nanos *= 10 }
        }
        var offset = 0
        if i < b.count, b[i] == 90 || b[i] == 122 {
            i += 1
        } else if i + 6 == b.count, b[i] == 43 || b[i] == 45, b[i + 3] == 58, let h = number(i + 1..<i + 3), let m = number(i + 4..<i + 6), h < 24, m < 60 {
            offset = (h * 60 + m) * 60 * (b[i] == 45 ? -1 : 1)
            i += 6
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        let seconds = daysFromCivil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + min(second, 59) - offset
        return Int64(seconds) * 1_000_000_000 + Int64(nanos)
    }

    /// Days from 1970-01-01 to the proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
    private static func daysFromCivil(_ year: Int, _ month: Int, _ day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// What `parse` accepts, for error messages.
    public static let allowed = "RFC 3339, like 2026-11-25T14:03:30Z or 2026-11-25T14:03:30.5+01:00"

    /// Local time of `nanos` in RFC 3339 with milliseconds and the UTC offset.
    public static func format(_ nanos: Int64) -> String {
        let seconds = Int((Double(nanos) / 1e9).rounded(.down))
        return LocalTime.iso8601(seconds, millis: Int((nanos - Int64(seconds) * 1_000_000_000) / 1_000_000))
    }
}
