import Encoding
import Evidence
import Foundation
import Frames
import Testing
@testable import Recording

#if canImport(Glibc)
import Glibc
#endif

/// A fresh folder under /tmp, removed at the end of the test.
final class TempDir {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "blackbox-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    func write(_ relative: String, bytes: Int, modified: Int? = nil) {
        let full = path + "/" + relative
        try! FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: full, contents: Data(repeating: 7, count: bytes))
        if let modified {
            try! FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: TimeInterval(modified))], ofItemAtPath: full)
        }
    }

    func exists(_ relative: String) -> Bool { FileManager.default.fileExists(atPath: path + "/" + relative) }
}

/// Real JPEG frames at 30 fps with capture times starting at `start` (nanoseconds).
func jpegFrames(_ count: Int, fps: Int = 30, start: UInt64 = 1_000_000_000) -> [EncodedFrame] {
    let (raw, pool) = uniformFrame(width: 160, height: 120, luma: 90)
    defer { raw.storage.release(); _ = pool }
    let jpeg = try! JPEGEncoder().encode(raw, quality: 70) { Array($0) }
    return (0..<count).map { i in
        let mono = start + UInt64(i) * 1_000_000_000 / UInt64(fps)
        let time = CaptureTime(monotonicNanos: mono, wallSeconds: 1_764_000_000 + Int(mono / 1_000_000_000), wallNanos: Int(mono % 1_000_000_000))
        return jpeg.withUnsafeBytes { EncodedFrame(jpeg: $0, sequence: UInt64(i), time: time, width: 160, height: 120, encodeNanos: 0) }
    }
}

@Suite("MP4 recording")
struct MP4Tests {
    @Test("a finished file holds every frame in fragments of the set length, with its duration recorded")
    func roundTrip() throws {
        let dir = TempDir()
        let frames = jpegFrames(60)
        let file = try MP4File(path: dir.path + "/cam/a.mp4", first: frames[0], fragmentNanos: 500_000_000, sync: .everyFragment, nominalFps: 30)
        for f in frames { try file.append(f) }
        let path = try file.finish()
        #expect(path == dir.path + "/cam/a.mp4")
        #expect(!dir.exists("cam/a.mp4.part"))
        let scan = try MP4Reader.scan(path: path)
        #expect(scan.problems.isEmpty)
        #expect(scan.frameCount == 60)
        #expect(scan.fragments.count == 4)
        #expect(scan.validEnd == scan.fileSize)
        #expect(abs(scan.duration - 2.0) < 0.001)
        // Timestamps strictly increase across fragments.
        var t: UInt64 = 0
        for fragment in scan.fragments {
            #expect(fragment.baseTime == t)
            t += fragment.durations.reduce(0) { $0 + UInt64($1) }
            #expect(fragment.durations.allSatisfy { (2999...3001).contains($0) })  // 1/30 s in 90 kHz ticks
        }
        let report = Verifier.verify(path: path)
        #expect(report.isSound && report.gaps.isEmpty)
    }

    @Test("jittery capture times land on the frame grid: every duration a whole number of intervals, decode times strictly increasing")
    func jitterStaysOnTheGrid() throws {
        let dir = TempDir()
        // 30 fps with the jitter seen in the field: a 56 ms gap, then a frame 10 ms later, and more.
        let offsetsMs: [UInt64] = [0, 33, 67, 123, 133, 167, 200, 210, 213, 267, 300, 301, 302, 400, 433, 467, 500, 533, 567, 600, 633, 667]
        let base = jpegFrames(1)[0]
        let frames = offsetsMs.enumerated().map { i, ms in
            let mono = 1_000_000_000 + ms * 1_000_000
            let time = CaptureTime(monotonicNanos: mono, wallSeconds: 1_764_000_000, wallNanos: Int(ms * 1_000_000))
            return base.bytes.withUnsafeReadableBytes { EncodedFrame(jpeg: $0, sequence: UInt64(i), time: time, width: 160, height: 120, encodeNanos: 0) }
        }
        let file = try MP4File(path: dir.path + "/j.mp4", first: frames[0], fragmentNanos: 200_000_000, sync: .never, nominalFps: 30)
        var kept = 0
        for f in frames where try file.append(f) { kept += 1 }
        let scan = try MP4Reader.scan(path: try file.finish())
        #expect(scan.problems.isEmpty)
        #expect(scan.frameCount == kept && kept >= frames.count - 2)
        var t: UInt64 = 0
        for fragment in scan.fragments {
            #expect(fragment.baseTime == t)
            for d in fragment.durations {
                #expect(d > 0 && d % 3000 == 0, "duration \(d) is not a whole number of 1/30 s intervals")
            }
            t += fragment.durations.reduce(0) { $0 + UInt64($1) }
        }
        // The track stays on the capture clock: it ends within two intervals of the last capture time.
        #expect(abs(scan.duration - (0.667 + 1.0 / 30)) < 0.07)
    }

    @Test("a lost second of frames shows as a gap, not as damage")
    func gapsAreReported() throws {
        let dir = TempDir()
        let frames = jpegFrames(30) + jpegFrames(30, start: 3_000_000_000)
        let file = try MP4File(path: dir.path + "/g.mp4", first: frames[0], fragmentNanos: 500_000_000, sync: .never, nominalFps: 30)
        for f in frames { try file.append(f) }
        let report = Verifier.verify(path: try file.finish())
        #expect(report.isSound)
        #expect(report.gaps.count == 1)
        #expect(abs((report.gaps.first?.seconds ?? 0) - 1.033) < 0.01)
    }

    @Test("recovery cuts a crashed segment back to its last whole fragment", arguments: [1, 7, 100, 5000])
    func recoversCutFile(cutInto lastFragment: Int) throws {
        let dir = TempDir()
        let frames = jpegFrames(45)
        let file = try MP4File(path: dir.path + "/c.mp4", first: frames[0], fragmentNanos: 500_000_000, sync: .everyFragment, nominalFps: 30)
        for f in frames { try file.append(f) }    // 3 fragments written, the last 0.5 s pending
        file.abandon()
        let part = dir.path + "/c.mp4.part"
        let whole = try MP4Reader.scan(path: part)
        #expect(whole.fragments.count == 2)
        // A power cut while the third fragment was being written: part of it reached the disk.
        let partial = [UInt8](repeating: 0x55, count: lastFragment)
        let handle = FileHandle(forWritingAtPath: part)!
        handle.seekToEndOfFile()
        handle.write(Data(FragmentedMP4.fragmentHeader(sequence: 3, runs: [
            .init(trackID: 1, baseTime: 90_000, durations: [3000, 3000], sizes: [3000, 3000])]).prefix(lastFragment) + partial))
        handle.closeFile()
        let report = try Recovery.recover(partPath: part)
        #expect(report.finalPath == dir.path + "/c.mp4")
        #expect(report.frames == 30)
        #expect(abs(report.seconds - 1.0) < 0.001)
        #expect(report.bytesCut > 0)
        let after = Verifier.verify(path: dir.path + "/c.mp4")
        #expect(after.isSound, "\(after.problems)")
        #expect(after.frames == 30)
        #expect(!dir.exists("c.mp4.part"))
    }

    @Test("a segment cut before its first fragment holds no frame and is removed")
    func removesEmptyPart() throws {
        let dir = TempDir()
        let frames = jpegFrames(3)
        let file = try MP4File(path: dir.path + "/e.mp4", first: frames[0], fragmentNanos: 1_000_000_000, sync: .everyFragment, nominalFps: 30)
        for f in frames { try file.append(f) }
        file.abandon()
        let results = Recovery.recoverAll(root: dir.path)
        #expect(results.count == 1)
        #expect(try results[0].get().finalPath == nil)
        #expect(!dir.exists("e.mp4.part") && !dir.exists("e.mp4"))
    }

    @Test("the event pre-roll keeps only the last seconds")
    func preRoll() {
        var ring = PreRoll(maxNanos: 1_000_000_000, maxFrames: 1000, maxBytes: 1 << 30)
        for f in jpegFrames(90) { ring.append(f) }
        #expect(ring.frames.count == 31)
        #expect(ring.frames.first?.frame.sequence == 59)
        var small = PreRoll(maxNanos: 10_000_000_000, maxFrames: 5, maxBytes: 1 << 30)
        for f in jpegFrames(20) { small.append(f) }
        #expect(small.frames.map(\.frame.sequence) == [15, 16, 17, 18, 19])
    }

    @Test("frames the segment has written leave the pre-roll's memory and are read back byte for byte, even once deleted")
    func preRollReadsWrittenFramesBack() throws {
        let dir = TempDir()
        // Every frame different (a byte after the JPEG's end), so that a frame read from the wrong place shows.
        let frames = jpegFrames(60).map { f in
            var bytes = f.bytes
            bytes.writeInteger(UInt16(f.sequence))
            return f.with(bytes: bytes)
        }
        let file = try MP4File(path: dir.path + "/cam/a.mp4", first: frames[0], fragmentNanos: 500_000_000, sync: .never, nominalFps: 30,
                               chain: FragmentChain(id: "cam", key: DeviceKey.generate(), after: nil), keepsOffsets: true)
        let readBack = try #require(SegmentReadBack(path: file.partPath))
        var ring = PreRoll(maxNanos: 10_000_000_000, maxFrames: 1000, maxBytes: 1 << 30)
        for f in frames {
            ring.append(f)
            try file.append(f)
            ring.spill(file.takeWritten(), to: readBack)
        }
        // Fragments of half a second: three written, the fourth (15 frames) still gathered, so still in memory.
        #expect(ring.frames.prefix(45).allSatisfy { $0.file != nil && $0.frame.bytes.readableBytes == 0 })
        #expect(ring.frames.suffix(15).allSatisfy { $0.file == nil })
        #expect(ring.bytes == frames.suffix(15).reduce(0) { $0 + $1.bytes.readableBytes })
        for (held, original) in zip(ring.frames, frames) { #expect(held.materialized()?.bytes == original.bytes) }
        let path = try file.finish()
        ring.spill(file.takeWritten(), to: readBack)
        #expect(ring.bytes == 0)
        // Retention may delete the segment while a clip still needs its frames: the open descriptor still reads them.
        #expect(unlink(path) == 0)
        for (held, original) in zip(ring.frames, frames) { #expect(held.materialized()?.bytes == original.bytes) }
    }
}

@Suite("Retention")
struct RetentionTests {
    @Test("the oldest segments go first; protected clips, open files, links and everything outside stay")
    func deletesOldestOnly() throws {
        let outside = TempDir()
        outside.write("precious.mp4", bytes: 50_000, modified: 1_000)
        let dir = TempDir()
        for i in 0..<10 {
            dir.write("front/2026-01-01/2026010\(i)-000000_front.mp4", bytes: 102_400, modified: 2_000 + i * 60)
        }
        dir.write("events/front/2026-01-01/e1_front_event.mp4", bytes: 102_400, modified: 1_500)
        dir.write("events/front/2026-01-01/e1_front_event.mp4.protected", bytes: 0)
        dir.write("front/2026-01-01/notes.txt", bytes: 10, modified: 1)
        dir.write("front/2026-01-01/20260101-999999_front.mp4.part", bytes: 102_400, modified: 1)
        // Links pointing out of the root, with old times and video names: never followed, never deleted.
        symlink(outside.path + "/precious.mp4", dir.path + "/front/2026-01-01/00000000-000000_front.mp4")
        symlink(outside.path, dir.path + "/rear")
        let open = dir.path + "/front/2026-01-01/20260100-000000_front.mp4"
        // 12 files of 100 KiB and a small one: five segments must go to get under 730 000 bytes.
        let retention = Retention(root: dir.path, quota: .bytes(730_000), minFreeBytes: 0)
        let deleted = retention.enforce(inUse: [open])
        #expect(deleted.map { ($0 as NSString).lastPathComponent }
                == ["20260101-000000_front.mp4", "20260102-000000_front.mp4", "20260103-000000_front.mp4", "20260104-000000_front.mp4", "20260105-000000_front.mp4"])
        #expect(dir.exists("front/2026-01-01/20260100-000000_front.mp4"))  // in use
        #expect(dir.exists("events/front/2026-01-01/e1_front_event.mp4"))  // protected
        #expect(dir.exists("front/2026-01-01/notes.txt"))
        #expect(outside.exists("precious.mp4"))
        let usage = try #require(retention.usage)
        #expect(usage.usedBytes <= 730_000)
        #expect(usage.eventBytes > 0)
    }

    @Test("event clips are recycled within their own share, oldest first, protected ones kept")
    func eventShare() {
        let dir = TempDir()
        for i in 0..<5 { dir.write("events/front/d/e\(i).mp4", bytes: 102_400, modified: 1_000 + i) }
        dir.write("events/front/d/e0.mp4.protected", bytes: 0)
        dir.write("front/d/s.mp4", bytes: 102_400, modified: 900)
        // Events may use 30 % of 1 024 000 = 3 clips of 100 KiB (the protected one not counted): the oldest unprotected goes.
        let retention = Retention(root: dir.path, quota: .bytes(1_024_000), minFreeBytes: 0, eventShare: 0.3)
        retention.enforce()
        #expect(dir.exists("events/front/d/e0.mp4"))
        #expect(!dir.exists("events/front/d/e1.mp4"))
        #expect(dir.exists("events/front/d/e2.mp4") && dir.exists("events/front/d/e3.mp4") && dir.exists("events/front/d/e4.mp4"))
        #expect(dir.exists("front/d/s.mp4"))
    }

    @Test("makeRoom deletes before a write would pass the quota")
    func makeRoomKeepsUnderQuota() {
        let dir = TempDir()
        for i in 0..<4 { dir.write("front/d/s\(i).mp4", bytes: 102_400, modified: 1_000 + i) }
        let retention = Retention(root: dir.path, quota: .bytes(460_000), minFreeBytes: 0)
        retention.makeRoom(for: 102_400, inUse: [])
        #expect(!dir.exists("front/d/s0.mp4"))
        #expect(dir.exists("front/d/s1.mp4"))
    }

    @Test("request paths resolve only to regular files inside the root", arguments: [
        "../x.mp4", "/etc/passwd", "front/../../x.mp4", "front/./a.mp4", "", "front//a.mp4", ".hidden.mp4", "link/a.mp4", "front/link.mp4",
    ])
    func resolveRefuses(_ request: String) {
        let dir = TempDir()
        dir.write("front/a.mp4", bytes: 10)
        let outside = TempDir()
        outside.write("a.mp4", bytes: 10)
        symlink(outside.path, dir.path + "/link")
        symlink(outside.path + "/a.mp4", dir.path + "/front/link.mp4")
        #expect(RecordingsTree.resolve(request, under: dir.path) == nil)
        #expect(RecordingsTree.resolve("front/a.mp4", under: dir.path) == dir.path + "/front/a.mp4")
    }

    @Test("quota and size spellings", arguments: [("50%", Quota.percent(50)), ("800M", .bytes(800 << 20)), ("2G", .bytes(2 << 30)), ("1000", .bytes(1000))])
    func quotaParsing(text: String, quota: Quota) {
        #expect(Quota(text) == quota)
    }

    @Test("bad quotas are refused", arguments: ["0%", "101%", "lots", "-5M", ""])
    func badQuota(text: String) {
        #expect(Quota(text) == nil)
    }
}

@Suite("Retention keeps what was just kept")
struct RetentionRulesTests {
    @Test("an event clip larger than the whole share is not deleted to make room for itself; older clips are")
    func newestClipStays() {
        let dir = TempDir()
        dir.write("events/front/d/old.mp4", bytes: 102_400, modified: 1_000)
        dir.write("events/front/d/new.mp4", bytes: 409_600, modified: 2_000)
        // The share is 30 % of 1 MB = 300 KB: the newest clip alone is larger.
        let retention = Retention(root: dir.path, quota: .bytes(1_024_000), minFreeBytes: 0, eventShare: 0.3)
        retention.enforce()
        #expect(dir.exists("events/front/d/new.mp4"))
        #expect(!dir.exists("events/front/d/old.mp4"))
        #expect(retention.startupProblems(clipBytes: 409_600).contains { $0.contains("cannot hold one clip") })
        #expect(!retention.startupProblems(clipBytes: 100_000).contains { $0.contains("cannot hold one clip") })
    }

    @Test("a write the quota cannot hold (protected and open files fill it) is refused, and the usage stays under the quota")
    func fullOfProtectedClips() throws {
        let dir = TempDir()
        dir.write("events/front/d/kept.mp4", bytes: 409_600, modified: 1_000)
        dir.write("events/front/d/kept.mp4.protected", bytes: 0)
        dir.write("front/d/open.mp4.part", bytes: 40_960)
        let retention = Retention(root: dir.path, quota: .bytes(460_000), minFreeBytes: 0)
        let problem = retention.makeRoom(for: 102_400, inUse: [dir.path + "/front/d/open.mp4.part"])
        #expect(problem?.hasPrefix("quota full") == true)
        #expect(dir.exists("events/front/d/kept.mp4"))
        let usage = try #require(retention.usage)
        #expect(usage.problem == problem && usage.usedBytes <= usage.quotaBytes)
        // Unprotected, the clip makes way and the write may go ahead.
        unlink(dir.path + "/events/front/d/kept.mp4.protected")
        #expect(retention.makeRoom(for: 102_400, inUse: []) == nil)
        #expect(!dir.exists("events/front/d/kept.mp4"))
    }
}
