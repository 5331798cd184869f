import Encoding
import Evidence
import Foundation
import Frames
import Rules
import Testing
@testable import Recording

@Suite("Sound track")
struct SoundTrackTests {
    @Test("AAC-LC's decoder configuration names the rate and channels; inputs are parsed or refused with what is allowed")
    func formatAndInput() throws {
        #expect(AudioFormat(sampleRate: 48_000).decoderConfig == [0x11, 0x88])   // LC, index 3, mono
        #expect(AudioFormat(sampleRate: 16_000, channels: 2).decoderConfig == [0x14, 0x10])  // LC, index 8, stereo
        #expect(AudioFormat().unitNanos == 21_333_333)
        #expect(try AudioInput.parse("alsa:plughw:CARD=Device,DEV=0", name: "audio") == .alsa("plughw:CARD=Device,DEV=0"))
        #expect(try AudioInput.parse("test:click", name: "audio") == .testClick)
        for bad in ["alsa:", "mic", "alsa:a\"b", "alsa:a b"] {
            #expect(throws: RuleError(name: "audio", text: bad, allowed: AudioInput.allowed)) { try AudioInput.parse(bad, name: "audio") }
        }
    }

    @Test("sound units sit at their capture times beside the pictures: in step, a gap kept as a gap, an early unit dropped; all signed")
    func placementAndSigning() throws {
        let dir = TempDir()
        let key = DeviceKey.generate()
        let frames = jpegFrames(60, fps: 30)  // 2 s from 1 s on the monotonic clock
        let format = AudioFormat()
        let file = try MP4File(path: dir.path + "/a.mp4", first: frames[0], audio: format, fragmentNanos: 500_000_000, sync: .never,
                               nominalFps: 30, chain: FragmentChain(id: "cam", key: key))
        let unit = format.unitNanos
        var units: [EncodedAudio] = []
        // 0.1 s before the first picture (belongs to no file), then 40 units in step, a 0.3 s gap, 20 more.
        units.append(EncodedAudio(monotonicNanos: 900_000_000, bytes: [1]))
        for i in 0..<40 { units.append(EncodedAudio(monotonicNanos: 1_000_000_000 + UInt64(i) * unit, bytes: [UInt8(i), 2, 3])) }
        let resume = 1_000_000_000 + 40 * unit + 300_000_000
        for i in 0..<20 { units.append(EncodedAudio(monotonicNanos: resume + UInt64(i) * unit, bytes: [UInt8(i), 4])) }
        // One that claims to be 0.2 s earlier than the sound before it: dropped, never overlapping.
        units.append(EncodedAudio(monotonicNanos: resume + 20 * unit - 200_000_000, bytes: [9]))
        var taken: [Bool] = []
        var next = 0
        for f in frames {
            while next < units.count, units[next].monotonicNanos <= f.time.monotonicNanos { taken.append(file.appendAudio(units[next])); next += 1 }
            try file.append(f)
        }
        while next < units.count { taken.append(file.appendAudio(units[next])); next += 1 }
        #expect(taken == [false] + Array(repeating: true, count: 60) + [false])
        let path = try file.finish()

        let scan = try MP4Reader.scan(path: path)
        let sound = try #require(scan.sound)
        #expect(sound.timescale == 48_000 && sound.decoderConfig == [0x11, 0x88] && scan.codec == .mjpeg && scan.timescale == 90_000)
        #expect(scan.frameCount == 60 && scan.problems.isEmpty)
        // Every unit once, in order, at its place: contiguous, then the gap (the unit before it lasts until the next).
        var placed: [(start: UInt64, duration: UInt32)] = []
        for fragment in scan.fragments {
            guard let run = fragment.sound else { continue }
            var t = run.baseTime
            for d in run.durations { placed.append((t, d)); t += UInt64(d) }
        }
        #expect(placed.count == 60)
        for (i, p) in placed.enumerated() {
            let expected = i < 40 ? UInt64(i) * 1024 : UInt64((resume - 1_000_000_000) * 48_000 / 1_000_000_000) + UInt64(i - 40) * 1024
            #expect(p.start == expected, "unit \(i) at \(p.start), expected \(expected)")
        }
        // No unit overlaps the next; across the gap the time is the gap's (a longer last unit, or the next run's later start).
        for i in 0..<59 {
            #expect(placed[i].start + UInt64(placed[i].duration) <= placed[i + 1].start)
            if i != 39 { #expect(placed[i].start + UInt64(placed[i].duration) == placed[i + 1].start) }
        }
        // The signature covers the sound: intact as written; a changed sound byte is named.
        #expect(SignatureVerifier.verify(path: path, expected: key.publicKey).verdict == .intact)
        var data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let fragment = try #require(scan.fragments.first { $0.sound != nil })
        let run = try #require(fragment.sound)
        data[run.dataOffset + 1] ^= 0xFF
        try Data(data).write(to: URL(fileURLWithPath: path))
        let report = SignatureVerifier.verify(path: path, expected: key.publicKey)
        #expect(report.verdict == .changed && report.findings.contains { $0.contains("sample data changed") })
    }
}
