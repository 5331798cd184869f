import Frames
import Platform

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
            cachedText = LocalTime.clock(time.wallSeconds)
        }
        let millis = String(String(1000 + time.wallNanos / 1_000_000).dropFirst())
        return "\(cachedText).\(millis)  \(label.uppercased())"
    }

    /// Scale of the font for a frame of `height` rows (about 1/34 of the height per line of text).
    public static func scale(forHeight height: Int) -> Int { max(1, height / 240) }

    /// Draws the overlay for `frame`'s capture time into its Y plane (top-left corner), and `caption` (the GPS line)
    /// under it when there is one.
    public func draw(on frame: RawFrame, label: String, caption: String = "") {
        let s = Self.scale(forHeight: frame.height)
        let box = BitmapFont.drawLabel(text(for: frame.time, label: label), on: frame.planes, x: s * 3, y: s * 3, scale: s, padding: s)
        if !caption.isEmpty {
            BitmapFont.drawLabel(caption, on: frame.planes, x: s * 3, y: box.y + box.height + s * 2, scale: s, padding: s)
        }
    }
}
