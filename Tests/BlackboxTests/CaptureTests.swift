import Cameras
@testable import Capture
import Encoding
import Frames
import Logging
import NIOCore
import Platform
import Synchronization
import Testing

@Suite("V4L2 format choice")
struct FormatChoiceTests {
    let webcam = [
        DeviceFormat(fourcc: FourCC(0x5659_5559), description: "YUYV 4:2:2", compressed: false,
                     sizes: [.init(width: 640, height: 480, fps: [30, 15]), .init(width: 1280, height: 720, fps: [10])]),
        DeviceFormat(fourcc: FourCC(0x4750_4A4D), description: "Motion-JPEG", compressed: true,
                     sizes: [.init(width: 1280, height: 720, fps: [30]), .init(width: 640, height: 480, fps: [30])]),
    ]

    @Test("auto prefers the camera's MJPEG, else raw formats")
    func autoPrefersMJPEG() throws {
        #expect(try FormatChoice.choose(.auto, width: 1280, height: 720, fps: 30, offers: webcam, device: "/dev/video0").fourcc.description == "MJPG")
        let rawOnly = [webcam[0]]
        #expect(try FormatChoice.choose(.auto, width: 640, height: 480, fps: 30, offers: rawOnly, device: "/dev/video0").fourcc.description == "YUYV")
    }

    @Test("without a size: closest to 720p, highest rate up to 30, among the formats asked for")
    func bestMode() {
        #expect(FormatChoice.bestMode(.auto, offers: webcam) == FrameGeometry(width: 1280, height: 720, fps: 30))
        #expect(FormatChoice.bestMode(.yuyv, offers: webcam) == FrameGeometry(width: 1280, height: 720, fps: 10))
        let fast = [DeviceFormat(fourcc: FourCC(0x5659_5559), description: "YUYV", compressed: false,
                                 sizes: [.init(width: 320, height: 240, fps: [60, 120]), .init(width: 1920, height: 1080, fps: [60, 25, 5])])]
        // 1920x1080 is nearer to 720p than 320x240 (2.25 times its pixels against a twelfth); its best rate up to 30 is 25.
        #expect(FormatChoice.bestMode(.auto, offers: fast) == FrameGeometry(width: 1920, height: 1080, fps: 25))
        // Only rates above 30: the lowest of them.
        let only60 = [DeviceFormat(fourcc: FourCC(0x5659_5559), description: "YUYV", compressed: false,
                                   sizes: [.init(width: 1280, height: 720, fps: [60, 50])])]
        #expect(FormatChoice.bestMode(.auto, offers: only60) == FrameGeometry(width: 1280, height: 720, fps: 50))
        #expect(FormatChoice.bestMode(.auto, offers: []) == nil)
    }

    @Test("a size or rate the device lacks is refused with what it offers")
    func unsupportedListsOffers() {
        #expect {
            try FormatChoice.choose(.yuyv, width: 1280, height: 720, fps: 30, offers: webcam, device: "/dev/video0")
        } throws: { error in
            "\(error)".contains("does not offer 1280x720@30 as yuyv") && "\(error)".contains("YUYV 640x480@30/15, 1280x720@10")
        }
    }

    @Test("H.264 fails with the reason and the working choice, or falls back to MJPEG when allowed")
    func h264() throws {
        #expect {
            try FormatChoice.choose(.h264, width: 1280, height: 720, fps: 30, offers: webcam, device: "/dev/video0")
        } throws: { error in
            "\(error)".contains("no hardware video encoder") == false && "\(error)".contains("hardware video encoder") && "\(error)".contains("mjpeg")
        }
        let pick = try FormatChoice.choose(.h264, width: 1280, height: 720, fps: 30, offers: webcam, device: "/dev/video0", h264Fallback: true)
        #expect(pick.fourcc.description == "MJPG" && pick.note != nil)
    }

    @Test("a Bayer-only device points to libcamera:N")
    func bayerOnly() {
        let sensor = [DeviceFormat(fourcc: FourCC(0x4141_4270), description: "10-bit Bayer BGBG/GRGR Packed", compressed: false,
                                   sizes: [.init(width: 1536, height: 864, fps: [])])]
        #expect {
            try FormatChoice.choose(.auto, width: 1536, height: 864, fps: 30, offers: sensor, device: "/dev/video0")
        } throws: { error in
            "\(error)".contains("only raw Bayer") && "\(error)".contains("--camera ID=libcamera:N")
        }
    }

    @Test("v4l2 camera specs, with by-path names that contain colons", arguments: [
        ("front=v4l2:/dev/video0", "/dev/video0", CaptureFormat.auto, FrameGeometry(width: 1280, height: 720, fps: 30)),
        ("front=v4l2:/dev/video2:640x480@25,yuyv", "/dev/video2", .yuyv, FrameGeometry(width: 640, height: 480, fps: 25)),
        ("cab=v4l2:/dev/v4l/by-path/pci-0000:00:14.0-usb-0:1:1.0-video-index0:1920x1080,mjpeg",
         "/dev/v4l/by-path/pci-0000:00:14.0-usb-0:1:1.0-video-index0", .mjpeg, FrameGeometry(width: 1920, height: 1080, fps: 30)),
    ])
    func v4l2Specs(spec: String, path: String, format: CaptureFormat, geometry: FrameGeometry) throws {
        let c = try CameraConfig.parse(spec, defaults: CameraConfig(id: "x"))
        #expect(c.source == .v4l2(path: path, format: format))
        #expect(c.geometry == geometry)
    }
}

@Suite("MJPEG pass-through")
struct PassthroughTests {
    /// A real JPEG from libjpeg-turbo, and the same JPEG with its Huffman tables cut out (as many UVC cameras send).
    func jpegs() throws -> (full: [UInt8], stripped: [UInt8]) {
        let source = TestPatternFixture.frame(width: 320, height: 240)
        defer { source.frame.storage.release() }
        let full = try JPEGEncoder().encode(source.frame, quality: 80) { Array($0) }
        var stripped: [UInt8] = [0xFF, 0xD8]
        var i = 2
        while i < full.count {
            let marker = full[i + 1]
            if marker == 0xDA { stripped += full[i...]; break }
            let length = Int(full[i + 2]) << 8 | Int(full[i + 3])
            if marker != 0xC4 { stripped += full[i..<(i + 2 + length)] }
            i += 2 + length
        }
        return (full, stripped)
    }

    @Test("frames with tables pass byte for byte; frames without get the standard tables and decode the same")
    func huffmanInsertion() throws {
        let (full, stripped) = try jpegs()
        #expect(stripped.count < full.count)
        let decoder = try JPEGDecoder()
        func dhtCount(_ b: [UInt8]) -> Int { zip(b, b.dropFirst()).filter { $0 == 0xFF && $1 == 0xC4 }.count }
        #expect(dhtCount(stripped) == 0)
        let passed = try #require(full.withUnsafeBytes { JPEGPassthrough.frame($0, sequence: 1, time: .now(), width: 320, height: 240) })
        #expect(passed.bytes.bytes == full)
        let fixed = try #require(stripped.withUnsafeBytes { JPEGPassthrough.frame($0, sequence: 1, time: .now(), width: 320, height: 240) })
        #expect(dhtCount(fixed.bytes.bytes) == 1)
        let original = try full.withUnsafeBytes { try decoder.decodeRGB($0) }
        let repaired = try fixed.bytes.withUnsafeReadableBytes { try decoder.decodeRGB($0) }
        #expect(repaired.rgb == original.rgb)
    }

    @Test("truncated, corrupt or wrongly sized frames are refused; padding after EOI is dropped")
    func refusesDamage() throws {
        let (full, _) = try jpegs()
        func pass(_ b: [UInt8], _ w: Int = 320, _ h: Int = 240) -> EncodedFrame? {
            b.withUnsafeBytes { JPEGPassthrough.frame($0, sequence: 1, time: .now(), width: w, height: h) }
        }
        #expect(pass(Array(full.prefix(full.count / 2))) == nil)
        #expect(pass([0x00] + full) == nil)
        #expect(pass(full, 640, 480) == nil)
        #expect(pass(full + [0, 0, 0, 0])?.bytes.readableBytes == full.count)
    }
}

@Suite("Pixel conversion and NO SIGNAL")
struct ConversionTests {
    @Test("YUYV unpacks to planar 4:2:2 and NV12 chroma splits into U and V")
    func conversions() {
        let yuyv: [UInt8] = [10, 20, 11, 30, 12, 21, 13, 31, 0,   // row 0: Y0 U0 Y1 V0 Y2 U1 Y3 V1, 1 byte of stride padding
                             14, 22, 15, 32, 16, 23, 17, 33, 0]   // row 1
        let (frame, pool) = uniformFrame(.yuv422, width: 4, height: 2)
        defer { frame.storage.release(); _ = pool }
        yuyv.withUnsafeBufferPointer { PixelConversion.yuyvToPlanar($0.baseAddress!, stride: 9, width: 4, height: 2, into: frame.planes) }
        #expect(samples(frame.planes[0]) == [10, 11, 12, 13, 14, 15, 16, 17])
        #expect(samples(frame.planes[1]) == [20, 21, 22, 23] && samples(frame.planes[2]) == [30, 31, 32, 33])
        let nv12uv: [UInt8] = [1, 2, 3, 4, 9, 9]
        let (f420, pool2) = uniformFrame(.yuv420, width: 4, height: 2)
        defer { f420.storage.release(); _ = pool2 }
        nv12uv.withUnsafeBufferPointer {
            PixelConversion.splitNV12Chroma($0.baseAddress!, stride: 6, width: 4, height: 2, u: f420.planes[1], v: f420.planes[2])
        }
        #expect(samples(f420.planes[1]) == [1, 3] && samples(f420.planes[2]) == [2, 4])
    }

    @Test("the NO SIGNAL picture is dark and carries its text")
    func noSignal() throws {
        let pool = BufferPool(count: 1, bytesPerBuffer: BufferPool.Buffer.byteCount(format: .yuv420, width: 320, height: 240))
        let frame = NoSignalFrame.render(into: pool.acquire()!, width: 320, height: 240, cameraID: "front", reason: "disconnected", sequence: 1)
        defer { frame.storage.release() }
        let y = samples(frame.planes[0])
        let bright = y.filter { $0 > 150 }.count
        #expect(bright > 200 && bright < y.count / 10)
        #expect(y.filter { $0 == 40 }.count > y.count * 3 / 4)
        let jpeg = try JPEGEncoder().encode(frame, quality: 80) { Array($0) }
        #expect(try jpeg.withUnsafeBytes { try JPEGDecoder().info($0) } == JPEGInfo(width: 320, height: 240))
    }
}

@Suite("NO SIGNAL cadence")
struct NoSignalCadenceTests {
    @Test("a card with no free buffer is sent once one is free, and an outage's first second gets several")
    func cardsComeEarlyAndAgain() {
        let pool = BufferPool(count: 1, bytesPerBuffer: BufferPool.Buffer.byteCount(format: .yuv420, width: 320, height: 240))
        let held = pool.acquire()!
        let tracker = SourceHealthTracker(cameraID: "front", device: "/dev/video9", logger: Logger(label: "test"))
        let cards = Mutex<[UInt64]>([])
        let start = MonotonicClock.nanos()
        // The only buffer comes back 0.1 s into the outage, as one an encoder held would (its own thread: Dispatch's
        // pool can be busy with other tests for a second).
        let giver = DedicatedThread(name: "giver") {
            sleepNanos(100_000_000)
            held.release()
        }
        defer { giver.join() }
        var sequence: UInt64 = 0
        tracker.noSignal(for: 2_500_000_000, reason: "disconnected", pool: pool, geometry: FrameGeometry(width: 320, height: 240, fps: 30),
                         sequence: &sequence, running: { true }) { frame in
            cards.withLock { $0.append(MonotonicClock.nanos() - start) }
            frame.storage.release()
        }
        let times = cards.withLock { $0 }
        // Once a second and no retry would give two cards, at 1 and 2 s.
        #expect(times.count >= 3 && times.count <= 7, "cards at \(times) ns")
        #expect((times.first ?? .max) < 700_000_000, "cards at \(times) ns")
        #expect(tracker.current.state == "no signal" && sequence == UInt64(times.count))
    }
}

@Suite("Frame pacing")
struct FramePacerTests {
    /// A clock that moves only when the pacer sleeps or the test says so.
    final class FakeTime: @unchecked Sendable {
        var now: UInt64 = 1_000_000_000
    }

    @Test("frames are stamped at their slots, a period apart however late the wake-up; missed slots are skipped, not burst")
    func lateWakeups() {
        let time = FakeTime()
        var pacer = FramePacer(fps: 10, clock: { time.now }, sleep: { time.now += $0 })
        func frame() -> FramePacer.Slot? { pacer.next(while: { true }) }
        #expect(frame() == .init(due: 1_000_000_000, missed: 0))
        // Woken 99 ms into the next 100 ms slot: that frame keeps its slot's time, and so does the next, 1 ms later.
        time.now += 199_000_000
        #expect(frame() == .init(due: 1_100_000_000, missed: 0))
        #expect(frame() == .init(due: 1_200_000_000, missed: 0))
        #expect(time.now == 1_200_000_000)
        // 350 ms asleep: the two slots that passed are counted as missed, the one under way gives a frame now.
        time.now += 350_000_000
        #expect(frame() == .init(due: 1_500_000_000, missed: 2))
        #expect(time.now == 1_550_000_000)
        #expect(frame() == .init(due: 1_600_000_000, missed: 0))
        #expect(time.now == 1_600_000_000)
    }
}

@Suite("rpicam-vid's frame timestamps")
struct TimestampGapsTests {
    /// `--save-pts` text for frames at `fps` with the ones in `lost` left out.
    func stream(fps: Double, frames: Int, lost: Set<Int> = []) -> [UInt8] {
        Array(("# timecode format v2\n" + (0..<frames).filter { !lost.contains($0) }
            .map { String(format: "%.3f\n", Double($0) * 1000 / fps) }.joined()).utf8)
    }

    func count(_ bytes: [UInt8], fps: Int, pieces: Int = 1) -> UInt64 {
        var gaps = TimestampGaps(fps: fps)
        let size = max(1, bytes.count / pieces)
        return stride(from: 0, to: bytes.count, by: size).reduce(0) { sum, start in
            sum + bytes[start..<min(bytes.count, start + size)].withUnsafeBytes { gaps.feed($0) }
        }
    }

    @Test("a steady camera loses nothing; each lost frame is counted, lines split across reads or not")
    func gaps() {
        #expect(count(stream(fps: 30, frames: 300), fps: 30) == 0)
        let lost: Set<Int> = [9, 19, 50, 51, 52, 200]
        #expect(count(stream(fps: 30, frames: 300, lost: lost), fps: 30) == 6)
        #expect(count(stream(fps: 30, frames: 300, lost: lost), fps: 30, pieces: 37) == 6)
        // 29.97 fps asked as 30: the interval is a little longer, never half a frame.
        #expect(count(stream(fps: 29.97, frames: 300, lost: lost), fps: 30) == 6)
    }

    @Test("a sensor slower than asked is no loss, and its own lost frames still count")
    func slowSensor() {
        #expect(count(stream(fps: 20, frames: 200), fps: 30) == 0)
        #expect(count(stream(fps: 20, frames: 200, lost: [100, 150, 151]), fps: 30) == 3)
    }

    @Test("what is not a timestamp, and a clock that starts again, count nothing")
    func noise() {
        let junk = Array("# timecode format v2\n\(String(repeating: "x", count: 500))\n0.000\n33.333\nbanana\n66.667\n0.000\n33.333\n".utf8)
        #expect(count(junk, fps: 30) == 0)
    }
}
