import Encoding
import Foundation
import Frames
import NIOCore
import Platform
import Synchronization
import Testing
@testable import Recording

/// A moving I420 picture (a bright square crossing a gradient), owned by the caller.
final class MovingPicture {
    let width: Int, height: Int
    let y: UnsafeMutablePointer<UInt8>, u: UnsafeMutablePointer<UInt8>, v: UnsafeMutablePointer<UInt8>

    init(width: Int, height: Int) {
        self.width = width
        self.height = height
        y = .allocate(capacity: width * height)
        u = .allocate(capacity: width * height / 4)
        v = .allocate(capacity: width * height / 4)
    }

    deinit {
        y.deallocate(); u.deallocate(); v.deallocate()
    }

    /// Draws frame `n` and returns its planes.
    func planes(frame n: Int) -> [Plane] {
        for row in 0..<height {
            for col in 0..<width {
                let inSquare = abs(col - (n * 7) % width) < 24 && abs(row - height / 2) < 24
                y[row * width + col] = inSquare ? 235 : UInt8((row + col + n) & 0x7F) + 40
            }
        }
        for i in 0..<(width * height / 4) {
            u[i] = UInt8(128 + (i + n) % 32)
            v[i] = UInt8(128 - (i / 3 + n) % 32)
        }
        return [Plane(base: y, stride: width, width: width, height: height),
                Plane(base: u, stride: width / 2, width: width / 2, height: height / 2),
                Plane(base: v, stride: width / 2, width: width / 2, height: height / 2)]
    }
}

func run(_ tool: String, _ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [tool] + arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

@Suite("H.264 with x264 in fragmented MP4")
struct H264Tests {
    static let fps = 15

    /// A scratch folder, a moving 320x240 picture and an encoder with a keyframe each second.
    func setUp() throws -> (TempDir, MovingPicture, H264Encoder) {
        (TempDir(), MovingPicture(width: 320, height: 240), try H264Encoder(width: 320, height: 240, fps: Self.fps, keyframeInterval: Self.fps))
    }

    @Test("an IDR picture whenever asked, parameter sets once, length-prefixed NAL units")
    func encoderKeyframes() throws {
        let picture = MovingPicture(width: 320, height: 240)
        let encoder = try H264Encoder(width: 320, height: 240, fps: 15, keyframeInterval: 15)
        #expect(encoder.parameterSets.sps.first.map { $0 & 0x1F } == 7)
        #expect(encoder.parameterSets.pps.first.map { $0 & 0x1F } == 8)
        var keyframes: [Bool] = []
        for n in 0..<30 {
            let unit = try #require(try encoder.encode(picture.planes(frame: n), pts: Int64(n), keyframe: n % 10 == 0))
            keyframes.append(unit.isKeyframe)
            // Walk the NAL units: 4-byte lengths that add up to the access unit.
            var i = 0
            while i < unit.bytes.count {
                let length = unit.bytes[i..<i + 4].reduce(0) { $0 << 8 | Int($1) }
                #expect(length > 0)
                i += 4 + length
            }
            #expect(i == unit.bytes.count)
        }
        #expect(keyframes.enumerated().allSatisfy { n, key in key == (n % 10 == 0) })
    }

    @Test("x264 encodes up to 720p30 on its own thread (no helper threads waking per picture) and 1080p30 sliced over the cores")
    func encoderThreads() throws {
        #expect(H264Settings().threads(width: 1280, height: 720, fps: 30) == 1)
        #expect(H264Settings().threads(width: 1920, height: 1080, fps: 30) == 0)
        var fixed = H264Settings()
        fixed.threads = 2
        #expect(fixed.threads(width: 640, height: 480, fps: 10) == 2)
        // What x264 starts, counted by the kernel: the encoder opens on a thread of a name of its own, which x264's
        // threads inherit (other tests' threads, running beside this one, have other names).
        func x264Threads(width: Int, height: Int) -> Int {
            let name = "x264-\(width)"
            let counted = Mutex(-1)
            let probe = DedicatedThread(name: name) {
                guard let encoder = try? H264Encoder(width: width, height: height, fps: 30, keyframeInterval: 30) else { return }
                let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
                let named = tasks.filter { (try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8))?.hasPrefix(name) == true }
                withExtendedLifetime(encoder) { counted.withLock { $0 = named.count - 1 } }
            }
            probe.join()
            return counted.withLock { $0 }
        }
        #expect(x264Threads(width: 1280, height: 720) == 0)
        if System.coreCount > 1 {
            // x264's own choice on more than one core: sliced threads of its own.
            #expect(x264Threads(width: 1920, height: 1080) > 0)
        }
    }

    @Test("a fragmented avc1 MP4 that ffmpeg decodes silently, every fragment starting with a keyframe")
    func avc1File() throws {
        let (dir, picture, encoder) = try setUp()
        let (width, height, fps) = (picture.width, picture.height, Self.fps)
        let ticks = UInt32(FragmentedMP4.timescale) / UInt32(fps)
        var file = FragmentedMP4.initSection(codec: .h264(encoder.parameterSets), width: width, height: height, startUTC: 1_764_000_000,
                                             localTime: "2025-11-24T16:00:00.000+00:00", comment: nil).bytes
        for fragment in 0..<3 {
            var units: [H264AccessUnit] = []
            for n in 0..<fps {
                units.append(try #require(try encoder.encode(picture.planes(frame: fragment * fps + n), pts: Int64(fragment * fps + n), keyframe: n == 0)))
            }
            file += FragmentedMP4.fragmentHeader(sequence: UInt32(fragment + 1), runs: [
                .init(trackID: 1, baseTime: UInt64(fragment * fps) * UInt64(ticks), durations: Array(repeating: ticks, count: fps),
                      sizes: units.map(\.bytes.count), keyframes: units.map(\.isKeyframe))])
            for unit in units { file += unit.bytes }
        }
        let path = dir.path + "/h264.mp4"
        _ = FileManager.default.createFile(atPath: path, contents: Data(file))
        let scan = try MP4Reader.scan(path: path)
        #expect(scan.problems.isEmpty && scan.frameCount == 45 && scan.fragments.count == 3)
        let decode = try run("ffmpeg", ["-v", "error", "-i", path, "-f", "null", "-"])
        #expect(decode.status == 0 && decode.err.isEmpty, "\(decode.err)")
        let probe = try run("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name,width,height,r_frame_rate:frame=key_frame",
                                        "-of", "csv=p=0", path])
        #expect(probe.status == 0 && probe.err.isEmpty, "\(probe.err)")
        let lines = probe.out.split(separator: "\n").map(String.init)
        let keys = lines.filter { $0 == "0" || $0 == "1" }
        #expect(keys.count == 45)
        #expect(keys.enumerated().allSatisfy { n, key in (key == "1") == (n % fps == 0) })
        #expect(lines.contains("h264,320,240,15/1"))
    }

    @Test("MP4File writes H.264 frames: fragments only at keyframes, verified, decoded silently; a file never starts without a keyframe")
    func recorderFile() throws {
        let (dir, picture, encoder) = try setUp()
        let (width, height, fps) = (picture.width, picture.height, Self.fps)
        var frames: [EncodedFrame] = []
        for n in 0..<50 {
            // An IDR picture each second; the encoder's own scene cuts may add more.
            let unit = try #require(try encoder.encode(picture.planes(frame: n), pts: Int64(n), keyframe: n % fps == 0))
            let mono = 1_000_000_000 + UInt64(n) * 1_000_000_000 / UInt64(fps)
            let time = CaptureTime(monotonicNanos: mono, wallSeconds: 1_764_000_000 + n / fps, wallNanos: 0)
            frames.append(EncodedFrame(codec: .h264, isKeyframe: unit.isKeyframe, bytes: ByteBuffer(bytes: unit.bytes), sequence: UInt64(n),
                                       time: time, width: width, height: height, encodeNanos: 0))
        }
        // Starting at a predicted picture is refused: the file's first frame must be a keyframe.
        let file = try MP4File(path: dir.path + "/cam/h.mp4", first: frames[0], codec: .h264(encoder.parameterSets),
                               fragmentNanos: 500_000_000, sync: .never, nominalFps: fps)
        #expect(try file.append(frames[1]) == false)
        for f in frames { try file.append(f) }
        let path = try file.finish()
        let scan = try MP4Reader.scan(path: path)
        #expect(scan.codec == .h264 && scan.frameCount == 50)
        // Fragments of at least 0.5 s begin at the keyframes, one each second.
        #expect(scan.fragments.count == 4)
        #expect(scan.fragments.allSatisfy { $0.keyframes.first == true })
        let report = Verifier.verify(path: path)
        #expect(report.isSound, "\(report.problems)")
        let decode = try run("ffmpeg", ["-v", "error", "-i", path, "-f", "null", "-"])
        #expect(decode.status == 0 && decode.err.isEmpty, "\(decode.err)")
        // A damaged NAL length is found by verify.
        var bytes = [UInt8](FileManager.default.contents(atPath: path)!)
        let sample = scan.fragments[1].dataOffset + Int(scan.fragments[1].sizes[0]) + Int(scan.fragments[1].sizes[1])
        bytes[sample] = 0x7F
        FileManager.default.createFile(atPath: dir.path + "/bad.mp4", contents: Data(bytes))
        #expect(!Verifier.verify(path: dir.path + "/bad.mp4").isSound)
    }

    @Test("live fragments: an init section from a keyframe, one fragment per frame from a keyframe on, a gap waits for the next keyframe; ffmpeg decodes it")
    func liveFragments() throws {
        let (dir, picture, encoder) = try setUp()
        let fps = Self.fps
        var frames: [EncodedFrame] = []
        for n in 0..<45 {
            let unit = try #require(try encoder.encode(picture.planes(frame: n), pts: Int64(n), keyframe: n % fps == 0))
            let time = CaptureTime(monotonicNanos: 1_000_000_000 + UInt64(n) * 1_000_000_000 / UInt64(fps), wallSeconds: 1_764_000_000 + n / fps, wallNanos: 0)
            frames.append(EncodedFrame(codec: .h264, isKeyframe: unit.isKeyframe, bytes: ByteBuffer(bytes: unit.bytes), sequence: UInt64(n),
                                       time: time, width: picture.width, height: picture.height, encodeNanos: 0, parameterSets: encoder.parameterSets))
        }
        #expect(LiveFragments.initSection(for: frames[1]) == nil)
        var out = try #require(LiveFragments.initSection(for: frames[0]))
        #expect(LiveFragments.codecString(encoder.parameterSets) == "avc1." + encoder.parameterSets.sps[1...3].map { String(format: "%02x", $0) }.joined())
        var live = LiveFragments(fps: fps)
        // Joining at a predicted picture: nothing until the keyframe.
        #expect(live.fragment(frames[3]) == nil)
        var sent = 0
        for frame in frames[4...] {
            // Frames 20-22 never reach the client (it was slow): the pictures after the gap wait for the keyframe at 30.
            if (20...22).contains(frame.sequence) { continue }
            if let bytes = live.fragment(frame) {
                out += bytes
                sent += 1
                #expect(!(23..<30).contains(frame.sequence), "frame \(frame.sequence) after the gap was sent")
            }
        }
        // Frames 15-19 and 30-44 (the first of each a keyframe); a frame sent again is not repeated.
        #expect(sent == 20)
        #expect(live.fragment(frames[44]) == nil)
        let path = dir.path + "/live.mp4"
        FileManager.default.createFile(atPath: path, contents: Data(out))
        let decode = try run("ffmpeg", ["-v", "error", "-i", path, "-f", "null", "-"])
        #expect(decode.status == 0 && decode.err.isEmpty, "\(decode.err)")
        let probe = try run("ffprobe", ["-v", "error", "-count_frames", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path])
        #expect(probe.out.trimmingCharacters(in: .whitespacesAndNewlines) == "20")
    }
}
