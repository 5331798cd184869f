import Capture
import Foundation
import Frames
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The fake rpicam-vid of the test tree (tests/fake-rpicam), driven by FAKE_RPICAM.
private let fake: String = {
    let here = URL(fileURLWithPath: #filePath)
    return here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("tests/fake-rpicam/rpicam-vid").path
}()

/// Our children and their children that are still there (zombies included), from /proc.
private func descendants() -> [(pid: Int32, state: String)] {
    let me = getpid()
    var parents: [Int32: Int32] = [:], states: [Int32: String] = [:], names: [Int32: String] = [:]
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { continue }
        let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
        if fields.count > 2, let ppid = Int32(fields[1]) {
            parents[pid] = ppid
            states[pid] = String(fields[0])
            names[pid] = String(stat[stat.index(after: open)..<close])
        }
    }
    // Only the fake camera program (alive, or a zombie) and what it started: other suites run
    // tools such as ffmpeg from this process meanwhile.
    func isFake(_ pid: Int32) -> Bool {
        if states[pid] == "Z" { return !["ffmpeg", "ffprobe", "env"].contains(names[pid] ?? "") }
        let cmdline = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
        return String(decoding: cmdline, as: UTF8.self).contains("fake-rpicam")
    }
    var found: [(Int32, String)] = []
    var frontier = Set(parents.filter { $0.value == me && isFake($0.key) }.map(\.key))
    found += frontier.map { ($0, states[$0] ?? "?") }
    while !frontier.isEmpty {
        let next = Set(parents.filter { frontier.contains($0.value) }.map(\.key))
        found += next.map { ($0, states[$0] ?? "?") }
        frontier = next
    }
    return found
}

/// Counts the frames a source delivers, checks each is whole, and gives its buffer straight back.
private final class Collected: Sendable {
    private let state = Mutex<(count: Int, broken: Int)>((0, 0))

    func sink() -> @Sendable (RawFrame) -> Void {
        { frame in
            var whole = true
            if frame.format == .yuv420 {
                // Camera frames from the fake are uniform; NO SIGNAL pictures are dark grey (40) with text.
                let y = samples(frame.planes[0])
                if let first = y.first, first != 40, !y.allSatisfy({ $0 == first }) { whole = false }
            }
            frame.storage.release()
            self.state.withLock { $0.count += 1; if !whole { $0.broken += 1 } }
        }
    }

    var count: Int { state.withLock { $0.count } }
    var allWhole: Bool { state.withLock { $0.broken == 0 } }
}

/// Runs `body` with the fake noting each start in a file; `starts()` gives its lines (pid, camera, earlier-alive=N).
private func withStarts(_ body: (_ starts: () -> [String]) throws -> Void) throws {
    let path = NSTemporaryDirectory() + "fake-rpicam-starts-\(getpid())"
    unlink(path)
    setenv("FAKE_RPICAM_STARTS", path, 1)
    defer { unsetenv("FAKE_RPICAM_STARTS"); unlink(path) }
    try body { ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }
}

@Suite("rpicam-vid subprocess", .serialized)
struct RpicamTests {
    func source(_ mode: String, codec: RpicamSource.Codec = .yuv420) -> RpicamSource {
        setenv("FAKE_RPICAM", mode, 1)
        return RpicamSource(cameraID: "pi", index: 0, geometry: FrameGeometry(width: 64, height: 48, fps: 30), codec: codec, program: fake)
    }

    @Test("100 start/stop cycles leave no process and no zombie")
    func startStopCycles() throws {
        let collected = Collected()
        for _ in 0..<100 {
            let s = source("normal")
            try s.start(sink: collected.sink())
            #expect(waitUntil(5) { collected.count > 0 })
            s.stop()
            #expect(collected.allWhole)
        }
        let left = descendants()
        #expect(left.isEmpty, "left behind: \(left)")
    }

    @Test("a child that ignores SIGTERM is killed within 3 s")
    func ignoresTerm() throws {
        let collected = Collected()
        let s = source("ignore-term")
        try s.start(sink: collected.sink())
        #expect(waitUntil(5) { collected.count > 0 })
        let started = Date()
        s.stop()
        let took = Date().timeIntervalSince(started)
        #expect(took >= 1.9 && took < 3, "stop took \(took) s")  // it really resisted SIGTERM, then was killed
        #expect(descendants().isEmpty)
        #expect(collected.allWhole)
    }

    @Test("a grandchild in the child's group is stopped and reaped too")
    func grandchild() throws {
        let pidfile = NSTemporaryDirectory() + "fake-rpicam-\(getpid()).pid"
        setenv("FAKE_RPICAM_PIDFILE", pidfile, 1)
        let collected = Collected()
        let s = source("grandchild")
        try s.start(sink: collected.sink())
        #expect(waitUntil(5) { collected.count > 0 })
        let grandchild = try #require(Int32(String(contentsOfFile: pidfile, encoding: .utf8)))
        #expect(kill(grandchild, 0) == 0)
        s.stop()
        #expect(kill(grandchild, 0) == -1 && errno == ESRCH)
        #expect(descendants().isEmpty)
        #expect(collected.allWhole)
    }

    @Test("a child dying mid-frame yields no partial frame, and is restarted")
    func diesMidFrame() throws {
        try withStarts { starts in
            let collected = Collected()
            let s = source("die-midframe")
            try s.start(sink: collected.sink())
            #expect(waitUntil(8) { starts().count >= 2 })
            s.stop()
            #expect(s.stats.reconnects.load(ordering: .relaxed) >= 1)
            // Every frame that came through is whole: the half frame never reached the encoder (had it been
            // glued to the next run's bytes, its luma would not be uniform).
            #expect(s.stats.captured.load(ordering: .relaxed) >= 5)
            #expect(collected.allWhole)
            #expect(descendants().isEmpty)
        }
    }

    @Test("a stalled child is restarted after 2 s without frames")
    func stalls() throws {
        try withStarts { starts in
            let collected = Collected()
            let s = source("stall")
            try s.start(sink: collected.sink())
            #expect(waitUntil(5) { collected.count >= 5 })  // the fake's five frames, then silence
            let silent = Date()
            #expect(waitUntil(8) { s.health.state == "no signal" })
            let noticed = Date().timeIntervalSince(silent)
            #expect(noticed >= 1.8 && noticed < 4, "no signal after \(noticed) s of silence")
            #expect(s.health.reason?.contains("no frame") == true)
            // Restarted: a second child, started once the stalled one was gone.
            #expect(waitUntil(5) { starts().count >= 2 })
            s.stop()
            #expect(starts().dropFirst().allSatisfy { $0.hasSuffix("earlier-alive=0") }, "\(starts())")
            #expect(descendants().isEmpty)
            #expect(collected.allWhole)
        }
    }

    @Test("'in use by another process' becomes a clear reason, with retries")
    func inUse() throws {
        try withStarts { starts in
            let collected = Collected()
            let s = source("in-use")
            let began = Date()
            try s.start(sink: collected.sink())
            #expect(waitUntil(5) { s.health.reason?.contains("in use by another process") == true })
            #expect(s.health.state == "no signal")
            // Retried after the backoff's first second, not in a tight loop.
            #expect(waitUntil(5) { starts().count >= 2 })
            let retried = Date().timeIntervalSince(began)
            #expect(retried >= 0.9, "second try after \(retried) s")
            s.stop()
            #expect(starts().count <= 3)
            #expect(descendants().isEmpty)
            #expect(collected.allWhole)
        }
    }

    @Test("a flood on stderr is kept to the last 20 short lines")
    func stderrFlood() throws {
        let collected = Collected()
        let s = source("stderr-flood")
        try s.start(sink: collected.sink())
        #expect(waitUntil(10) { collected.count >= 60 })
        s.stop()
        #expect(s.recentErrors.count <= 20)
        #expect(s.recentErrors.allSatisfy { $0.utf8.count <= 300 })
        #expect(collected.allWhole)
    }
}
