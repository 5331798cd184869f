import Encoding
import Frames
import NIOCore
@testable import Recording
import Testing

@Suite("Event clip rules")
struct EventClipTests {
    private static let second: UInt64 = 1_000_000_000

    private static func at(_ seconds: Double, wall: Int = 1_764_750_000) -> CaptureTime {
        CaptureTime(monotonicNanos: UInt64(seconds * 1e9), wallSeconds: wall + Int(seconds), wallNanos: 0)
    }

    private static func book(pre: Double = 10, post: Double = 20, max: Double = 300) -> EventClipBook {
        var config = RecordingConfig()
        config.eventPreSeconds = pre
        config.eventPostSeconds = post
        config.eventMaxSeconds = max
        return EventClipBook(camera: "front", config: config)
    }

    @Test("an event while a clip is open moves its end; past the longest clip a new clip starts")
    func extendsUpToTheLongest() {
        var book = Self.book(pre: 10, post: 20, max: 60)
        let first = book.request(reason: "motion", now: Self.at(100))
        #expect(!first.extended && first.file.hasPrefix("events/front/") && first.file.hasSuffix("_front_event.mp4"))
        #expect(book.open?.endMono == 120 * Self.second)
        // 110 + 20 = 130 ≤ 100 + (60 − 10): extends.
        let second = book.request(reason: "button", now: Self.at(110))
        #expect(second == (first.file, true))
        #expect(book.open?.endMono == 130 * Self.second && book.open?.reason == "motion")
        // 131 + 20 = 151 > 150: a new clip, in another second, so without a number.
        let third = book.request(reason: "impact", now: Self.at(131))
        #expect(!third.extended && third.file != first.file && !third.file.contains("event-"))
        #expect(book.open?.firstMono == 131 * Self.second)
    }

    @Test("clips asked for in the same second are numbered")
    func sameSecondNumbered() {
        var book = Self.book(pre: 10, post: 20, max: 30)
        let a = book.request(reason: "a", now: Self.at(5))
        book.close(a.file)
        let b = book.request(reason: "b", now: Self.at(5.5))
        book.close(b.file)
        let c = book.request(reason: "c", now: Self.at(5.9))
        #expect(b.file == a.file.replacingOccurrences(of: "_event.mp4", with: "_event-1.mp4"))
        #expect(c.file == a.file.replacingOccurrences(of: "_event.mp4", with: "_event-2.mp4"))
    }

    @Test("the writer starts a clip once, may retry it at the next frame, and ends it at its (moved) end")
    func startRetryEnd() {
        var book = Self.book(pre: 2, post: 3, max: 60)
        let ticket = book.request(reason: "api", now: Self.at(10))
        let plan = book.startNext()
        #expect(plan?.file == ticket.file && plan?.started == false)
        #expect(book.startNext() == nil)
        book.retry(ticket.file)
        #expect(book.startNext()?.file == ticket.file)
        var end = plan!.endMono
        #expect(!book.ends(ticket.file, at: 12 * Self.second, end: &end))
        _ = book.request(reason: "again", now: Self.at(12))  // the end moves to 15 s
        #expect(!book.ends(ticket.file, at: 14 * Self.second, end: &end) && end == 15 * Self.second)
        #expect(book.ends(ticket.file, at: 15 * Self.second, end: &end))
        #expect(book.open == nil)
        // Closed to extension: the next event is a new clip. A clip no longer open ends at its own end.
        #expect(!book.request(reason: "later", now: Self.at(15.5)).extended)
        var oldEnd: UInt64 = 15 * Self.second
        #expect(book.ends(ticket.file, at: 15 * Self.second, end: &oldEnd))
    }

    private static func frame(_ seconds: Double, key: Bool) -> EncodedFrame {
        EncodedFrame(codec: .h264, isKeyframe: key, bytes: ByteBuffer(bytes: [0, 0, 0, 1, key ? 0x65 : 0x41]), sequence: UInt64(seconds * 10),
                     time: at(seconds), width: 64, height: 48, encodeNanos: 0, parameterSets: nil)
    }

    @Test("a clip's pre-roll starts at the keyframe at or before the pre-roll's start, else the first kept")
    func preRollStartsAtAKeyframe() {
        var ring = PreRoll(maxNanos: 5 * Self.second, maxFrames: 1000, maxBytes: 1 << 20)
        for tenth in 0...40 { ring.append(Self.frame(Double(tenth) / 10, key: tenth % 10 == 0)) }  // keyframes at 0, 1, 2, 3, 4 s
        let now = Self.frame(4.1, key: false)
        #expect(ring.clipStart(before: now, preNanos: 2 * Self.second).first?.frame.time.monotonicNanos == 2 * Self.second)
        #expect(ring.clipStart(before: now, preNanos: 1_500_000_000).first?.frame.time.monotonicNanos == 2 * Self.second)
        // Further back than the ring reaches: its first keyframe.
        #expect(ring.clipStart(before: now, preNanos: 60 * Self.second).first?.frame.time.monotonicNanos == 0)
        var empty = PreRoll(maxNanos: Self.second, maxFrames: 10, maxBytes: 1 << 20)
        empty.append(Self.frame(0.1, key: false))
        #expect(empty.clipStart(before: now, preNanos: Self.second).isEmpty)
    }
}
