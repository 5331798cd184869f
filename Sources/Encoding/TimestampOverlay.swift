import Frames

#if canImport(Glibc)
import Glibc
#endif

/// Burns the capture date and time and the camera id into a frame's luma plane, before encoding.
///
/// One instance per encoder thread: it caches the formatted date for the current second.
public final class TimestampOverlay {
    private var cachedSecond = Int.min
    private var cachedText = ""

    /// Creates an overlay renderer.
    public init() {}

    /// The text drawn for `time`: local date and time with milliseconds, and the label.
    public func text(for time: CaptureTime, label: String) -> String {
        if time.wallSeconds != cachedSecond {
            cachedSecond = time.wallSeconds
            var t = time_t(time.wallSeconds)
            var parts = tm()
            localtime_r(&t, &parts)
            func two(_ v: Int32) -> String { String(v).leftPadded(to: 2) }
            cachedText = "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) "
                + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
        }
        let millis = String(time.wallNanos / 1_000_000).leftPadded(to: 3)
        return "\(cachedText).\(millis)  \(label.uppercased())"
    }

    /// Scale of the font for a frame of `height` rows (about 1/34 of the height per line of text).
    public static func scale(forHeight height: Int) -> Int { max(1, height / 240) }

    /// Draws the overlay for `frame`'s capture time into its Y plane (top-left corner).
    public func draw(on frame: RawFrame, label: String) {
        let s = Self.scale(forHeight: frame.height)
        BitmapFont.drawLabel(text(for: frame.time, label: label), on: frame.planes, x: s * 3, y: s * 3, scale: s, padding: s)
    }
}
