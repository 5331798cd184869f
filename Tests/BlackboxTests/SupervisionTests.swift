import Cameras
import Capture
@testable import Frames
@testable import Platform
import Supervision
import Testing

@Suite("Watchdog")
struct WatchdogTests {
    private static let second: UInt64 = 1_000_000_000

    @Test("a busy stage that stands still for the allowance is a stall; one that moves is not")
    func busyAndStill() {
        var detector = StallDetector(interval: .seconds(5))
        #expect(detector.allowance == 5 * Self.second)
        #expect(detector.check([StageProgress(name: "front h264 encoder", count: 10, busy: true)], now: 0).isEmpty)
        #expect(detector.check([StageProgress(name: "front h264 encoder", count: 20, busy: true)], now: 5 * Self.second).isEmpty)
        // Seen busy at count 20 since 5 s: not yet a whole allowance at 9 s, a stall at 10 s.
        #expect(detector.check([StageProgress(name: "front h264 encoder", count: 20, busy: true)], now: 9 * Self.second).isEmpty)
        let stalls = detector.check([StageProgress(name: "front h264 encoder", count: 20, busy: true)], now: 10 * Self.second)
        #expect(stalls.map(\.stage) == ["front h264 encoder"] && stalls.map(\.seconds) == [5])
        // Moving again: no stall.
        #expect(detector.check([StageProgress(name: "front h264 encoder", count: 21, busy: true)], now: 15 * Self.second).isEmpty)
    }

    @Test("an idle stage never stalls, and its clock starts when work first waits")
    func idleIsNoStall() {
        var detector = StallDetector(interval: .seconds(5))
        for t in 0..<10 {
            #expect(detector.check([StageProgress(name: "front jpeg encoder", count: 0, busy: false)], now: UInt64(t) * 5 * Self.second).isEmpty)
        }
        // Work arrived just before this check: it has not stood still for a whole interval yet.
        #expect(detector.check([StageProgress(name: "front jpeg encoder", count: 0, busy: true)], now: 50 * Self.second).isEmpty)
        #expect(detector.check([StageProgress(name: "front jpeg encoder", count: 0, busy: true)], now: 55 * Self.second).count == 1)
    }

    @Test("short intervals allow at least three seconds (NO SIGNAL comes once a second); stages that go away are forgotten")
    func minimumAllowanceAndForgetting() {
        var detector = StallDetector(interval: .milliseconds(500))
        #expect(detector.allowance == 3 * Self.second)
        let capture = StageProgress(name: "front capture", count: 7, busy: true)
        #expect(detector.check([capture], now: 0).isEmpty)
        #expect(detector.check([capture], now: 2 * Self.second).isEmpty)
        #expect(detector.check([capture], now: 3 * Self.second).map(\.stage) == ["front capture"])
        // The H.264 encoder stopped (its last viewer left) and started again at count 0: a new stage, not a stall.
        #expect(detector.check([], now: 4 * Self.second).isEmpty)
        #expect(detector.check([StageProgress(name: "front capture", count: 7, busy: true)], now: 5 * Self.second).isEmpty)
    }

    @Test("fault injection names stages and seconds; anything else is ignored")
    func faultInjectionParses() {
        #expect(FaultInjection.parse("stall-capture-after=3,stall-h264-after=0.5") == [.capture: 3, .h264: 0.5])
        #expect(FaultInjection.parse("stall-nothing-after=3,stall-jpeg=2,junk").isEmpty)
        #expect(FaultInjection.parse("").isEmpty)
    }

    @Test("a running camera's capture and JPEG encoders (with a viewer) move; stopped, nothing is busy")
    func cameraStages() throws {
        let camera = try Camera(config: CameraConfig(id: "front", geometry: FrameGeometry(width: 160, height: 120, fps: 60), workers: 1))
        // Without a recorder JPEGs are made for viewers only: this test is one.
        camera.jpegDemand.viewers.add(1, ordering: .relaxed)
        try camera.start()
        var first = camera.progress()
        #expect(first.map(\.name) == ["front capture", "front jpeg encoder"])
        let deadline = MonotonicClock.nanos() + 5 * Self.second
        var later = first
        while MonotonicClock.nanos() < deadline {
            sleepNanos(50_000_000)
            later = camera.progress()
            if later[0].count > first[0].count + 3 && later[1].count > first[1].count + 3 { break }
        }
        #expect(later[0].count > first[0].count + 3)
        #expect(later[1].count > first[1].count + 3)
        #expect(later[0].busy)
        camera.stop()
        first = camera.progress()
        #expect(!first[0].busy && !first[1].busy)
    }
}
