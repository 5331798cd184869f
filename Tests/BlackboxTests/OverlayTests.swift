import Encoding
import Frames
import Testing

@Suite("Timestamp overlay")
struct OverlayTests {
    @Test("draws into the luma plane where the text is, and nowhere else")
    func changesPixelsOnlyWhereTextIs() {
        let (frame, pool) = uniformFrame(width: 640, height: 480, luma: 128)
        defer { frame.storage.release(); _ = pool }
        let before = samples(frame.planes[0])
        TimestampOverlay().draw(on: frame, label: "front")
        let after = samples(frame.planes[0])
        // At 480 rows the font is drawn at scale 2: "YYYY-MM-DD HH:MM:SS.mmm  FRONT" is 30 glyphs of 6 × 2 pixels (less the
        // last gap) = 358 pixels from x = 6, 14 rows from y = 6, with a 2-pixel box around.
        let box = (x0: 4, y0: 4, x1: 6 + 358 + 2, y1: 6 + 14 + 2)
        var changedInside = 0, brightInside = 0, changedOutside = 0
        for y in 0..<480 {
            for x in 0..<640 {
                let i = y * 640 + x
                let inside = x >= box.x0 && x < box.x1 && y >= box.y0 && y < box.y1
                if before[i] != after[i] { if inside { changedInside += 1 } else { changedOutside += 1 } }
                if inside && after[i] > 200 { brightInside += 1 }
            }
        }
        #expect(changedOutside == 0)
        #expect(changedInside > (box.x1 - box.x0) * (box.y1 - box.y0) / 2)
        #expect(brightInside > 100)  // the glyphs themselves
    }

    @Test("text shows local date, time with milliseconds and the camera id")
    func textFormat() {
        let time = CaptureTime(monotonicNanos: 0, wallSeconds: 1_764_000_000, wallNanos: 123_456_789)
        let text = TimestampOverlay().text(for: time, label: "rear")
        #expect(text.wholeMatch(of: /\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.123  REAR/) != nil)
        let later = CaptureTime(monotonicNanos: 0, wallSeconds: 1_764_000_001, wallNanos: 0)
        #expect(TimestampOverlay().text(for: later, label: "rear") != text)
    }

    @Test("drawn text differs between two times, so the clock visibly runs")
    func differentTimesDifferentPixels() {
        let a = uniformFrame(time: CaptureTime(monotonicNanos: 0, wallSeconds: 1_764_000_000, wallNanos: 0))
        let b = uniformFrame(time: CaptureTime(monotonicNanos: 0, wallSeconds: 1_764_000_007, wallNanos: 0))
        defer { a.frame.storage.release(); b.frame.storage.release() }
        TimestampOverlay().draw(on: a.frame, label: "x")
        TimestampOverlay().draw(on: b.frame, label: "x")
        #expect(samples(a.frame.planes[0]) != samples(b.frame.planes[0]))
    }
}
