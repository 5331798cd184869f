import Foundation
import Frames

/// RFC 3339 times as the API and the command line take and give them, as Unix nanoseconds.
public enum WallTime {
    /// Nanoseconds of `text` (`2026-11-25T14:03:30Z`, `…30.5+01:00`), nil when it is not RFC 3339.
    public static func parse(_ text: String) -> Int64? {
        let plain = ISO8601DateFormatter()
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        guard let date = plain.date(from: text) ?? fractional.date(from: text) else { return nil }
        return Int64((date.timeIntervalSince1970 * 1e9).rounded())
    }

    /// What `parse` accepts, for error messages.
    public static let allowed = "RFC 3339, like 2026-11-25T14:03:30Z or 2026-11-25T14:03:30.5+01:00"

    /// Local time of `nanos` in RFC 3339 with milliseconds and the UTC offset.
    public static func format(_ nanos: Int64) -> String {
        let seconds = Int((Double(nanos) / 1e9).rounded(.down))
        return LocalTime.iso8601(seconds, millis: Int((nanos - Int64(seconds) * 1_000_000_000) / 1_000_000))
    }
}
