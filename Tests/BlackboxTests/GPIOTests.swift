import Foundation
import Recording
import Rules
import Telemetry
import Testing

@Suite("Ignition, button and file kinds")
struct GPIOTests {
    /// Runs `edges` (level, ms) through a debouncer of `period` ms, settling every millisecond up to `until` ms; returns
    /// the changes that counted, with the time each began.
    static func debounce(_ edges: [(Bool, Double)], period: Double = 30, until: Double) -> [(level: Bool, since: Double)] {
        var d = Debouncer(periodNanos: UInt64(period * 1e6))
        d.observe(false, at: 0)
        var out: [(Bool, Double)] = []
        var next = 0
        for ms in stride(from: 0.0, through: until, by: 0.5) {
            while next < edges.count, edges[next].1 <= ms {
                if let c = d.observe(edges[next].0, at: UInt64(edges[next].1 * 1e6)) { out.append((c.level, Double(c.since) / 1e6)) }
                next += 1
            }
            if let c = d.settle(now: UInt64(ms * 1e6)) { out.append((c.level, Double(c.since) / 1e6)) }
        }
        return out
    }

    @Test("ten edges in 20 ms are one press, counted when the contact has held for the period after its last edge")
    func bounceIsOnePress() {
        // Pressed at 100 ms, bouncing every 2 ms until it rests closed at 118 ms; released at 400 ms with a bounce too.
        var edges: [(Bool, Double)] = []
        for i in 0..<10 { edges.append((i % 2 == 0, 100 + Double(i) * 2)) }
        edges.append((true, 120))
        edges += [(false, 400), (true, 401), (false, 403)]
        let changes = Self.debounce(edges, until: 600)
        #expect(changes.map(\.level) == [true, false])
        #expect(changes[0].since == 120)
        #expect(changes[1].since == 403)
    }

    @Test("a press read late, its release queued behind it, still counts by the edges' own times")
    func latePress() {
        var d = Debouncer(periodNanos: 30_000_000)
        d.observe(false, at: 0)
        #expect(d.observe(true, at: 100_000_000) == nil)
        let press = d.observe(false, at: 500_000_000)
        #expect(press?.level == true && press?.since == 100_000_000)
        #expect(d.settle(now: 600_000_000)?.level == false)
        #expect(d.stable == false && d.deadline == nil)
    }

    @Test("a blip shorter than the period is no change at all")
    func blipIgnored() {
        #expect(Self.debounce([(true, 50), (false, 60)], until: 300).isEmpty)
        // Polled levels behave as edges do: the same level seen again does not restart the wait.
        var d = Debouncer(periodNanos: 30_000_000)
        d.observe(false, at: 0)
        for ms in stride(from: 10, through: 50, by: 10) { d.observe(true, at: UInt64(ms) * 1_000_000) }
        #expect(d.settle(now: 40_000_000)?.level == true)
    }

    @Test("a line is CHIP:LINE; anything else is refused with what is allowed")
    func lineSpec() throws {
        let rp1 = try GPIOLineSpec(parsing: "pinctrl-rp1:GPIO17", name: "ignition")
        #expect(rp1.chip == "pinctrl-rp1" && rp1.line == "GPIO17" && rp1.description == "pinctrl-rp1:GPIO17")
        #expect(try GPIOLineSpec(parsing: "0:5", name: "button").line == "5")
        for bad in ["GPIO17", ":3", "chip:", "/dev/gpiochip0:1", "a b:1"] {
            #expect(throws: RuleError(name: "ignition", text: bad, problem: "is not a GPIO line", allowed: GPIOLineSpec.allowed)) {
                try GPIOLineSpec(parsing: bad, name: "ignition")
            }
        }
    }

    @Test("parking_shutdown_after takes s, m, h and d within 1 s to 30 days")
    func durations() throws {
        #expect(try GPIOSettings.duration("12h", name: "x") == 43_200)
        #expect(try GPIOSettings.duration("90m", name: "x") == 5400)
        #expect(try GPIOSettings.duration("2s", name: "x") == 2)
        for bad in ["12", "h", "0s", "31d", "-5m", "1w"] {
            #expect(throws: RuleError.self) { try GPIOSettings.duration(bad, name: "parking_shutdown_after") }
        }
    }

    @Test("a file's kind is read from its name: normal, event, parking, manual")
    func fileKinds() {
        #expect(FileKind.of("front/2026-12-04/20261204-101500_front.mp4") == .normal)
        #expect(FileKind.of("front/2026-12-04/20261204-101500_front_timelapse.mp4") == .parking)
        #expect(FileKind.of("events/front/2026-12-04/20261204-101500_front_event.mp4") == .event)
        #expect(FileKind.of("events/front/2026-12-04/20261204-101500_front_parking-2.mp4") == .parking)
        #expect(FileKind.of("events/front/2026-12-04/20261204-101500_front_manual.mp4.part") == .manual)
        // A camera named like a kind is not taken for one.
        #expect(FileKind.of("events/manual/2026-12-04/20261204-101500_manual_event.mp4") == .event)
        #expect(FileKind.of("parking/2026-12-04/20261204-101500_parking.mp4") == .normal)
    }

    @Test("the parking journal gives the parked spans of a window, the one still going up to now")
    func journal() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("journal-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let j = ParkingJournal(root: root)
        j.append(parked: true, at: 100)
        j.append(parked: false, at: 200)
        j.append(parked: true, at: 300)
        let spans = j.spans(from: 150, to: 1000, now: 350)
        #expect(spans.count == 2)
        #expect(spans[0].start == 150 && spans[0].end == 200)
        #expect(spans[1].start == 300 && spans[1].end == 350)
        #expect(j.spans(from: 210, to: 290, now: 350).isEmpty)
    }
}
