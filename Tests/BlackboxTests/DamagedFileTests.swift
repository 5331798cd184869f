import Encoding
import Evidence
import Foundation
import Frames
import Platform
import Testing
@testable import Recording

/// Files as a power cut leaves them on FAT: the right length with zeros, stale clusters of deleted files or a torn
/// write where the last data should be. Start-up recovery, the index and verify read every one of them: whatever the
/// bytes, they must answer (repair, cut, or call the file damaged), never trap and take the daemon down.
@Suite("Damaged files")
struct DamagedFileTests {
    /// A whole recording to damage, with every kind of box the daemon writes: pictures, sound and a metadata track in
    /// 0.5 s fragments, each signed into a chain (2 s).
    static func original() throws -> [UInt8] {
        let dir = TempDir()
        let frames = jpegFrames(60)
        let format = AudioFormat()
        let file = try MP4File(path: dir.path + "/a.mp4", first: frames[0], audio: format, metadata: true, fragmentNanos: 500_000_000,
                               sync: .never, nominalFps: 30, chain: FragmentChain(id: "cam", key: DeviceKey.generate()))
        var sound = frames[0].time.monotonicNanos
        for f in frames {
            while sound <= f.time.monotonicNanos {
                _ = file.appendAudio(EncodedAudio(monotonicNanos: sound, bytes: [0x21, 0x10, 0x04]))
                _ = file.appendMetadata(MetadataSample(monotonicNanos: sound, bytes: [0, 0, 3, 0] + [UInt8](repeating: 1, count: 12)))
                sound += format.unitNanos
            }
            try file.append(f)
        }
        return Array(try Data(contentsOf: URL(fileURLWithPath: try file.finish())))
    }

    /// A small deterministic generator (SplitMix64): the same seed damages the same bytes on every run.
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Where the boxes that structure a recording start in `bytes` (found by their type's four letters).
    static func boxes(_ bytes: [UInt8]) -> [Int] {
        let types: Set<[UInt8]> = Set(["moov", "moof", "mdat", "trak", "traf", "trun", "tfdt", "mvhd", "mdhd", "stsd", "uuid"].map { Array($0.utf8) })
        return (0..<max(0, bytes.count - 8)).filter { types.contains(Array(bytes[$0 + 4..<$0 + 8])) }
    }

    /// `bytes` damaged one way, chosen by `rng`.
    static func damage(_ bytes: [UInt8], boxes: [Int], _ rng: inout Seeded) -> [UInt8] {
        var b = bytes
        let at = Int.random(in: 0..<b.count, using: &rng)
        let length = min(b.count - at, Int.random(in: 1...4096, using: &rng))
        switch Int.random(in: 0..<6, using: &rng) {
        case 0:  // zeros where data should be (allocated, never written)
            for i in at..<at + length { b[i] = 0 }
        case 1:  // a stale cluster: bytes of another part of a recording
            let from = Int.random(in: 0..<(b.count - length + 1), using: &rng)
            b.replaceSubrange(at..<at + length, with: bytes[from..<from + length])
        case 2:  // random bytes
            for i in at..<at + length { b[i] = UInt8.random(in: 0...255, using: &rng) }
        case 3:  // torn: cut anywhere
            b.removeSubrange(at...)
        case 4:  // a large 32-bit or 64-bit value over a field
            let value = [UInt64.max, UInt64(Int64.max), 1 << 63, UInt64(UInt32.max), 1, 0][Int.random(in: 0..<6, using: &rng)]
            for i in 0..<8 where at + i < b.count { b[at + i] = UInt8(truncatingIfNeeded: value >> (56 - 8 * UInt64(i))) }
        default:  // a box size field made huge, zero or one (64-bit size follows)
            guard let box = boxes.randomElement(using: &rng), box + 16 <= b.count else { break }
            let size: [UInt8] = [[0, 0, 0, 1], [0, 0, 0, 0], [0xFF, 0xFF, 0xFF, 0xFF], [0, 0, 0, 8], [0, 0, 0, 9]][Int.random(in: 0..<5, using: &rng)]
            b.replaceSubrange(box..<box + 4, with: size)
            if size == [0, 0, 0, 1] { b.replaceSubrange(box + 8..<box + 16, with: [UInt8](repeating: 0xFF, count: 8)) }
        }
        return b
    }

    @Test("every damaged file is recovered, cut or called damaged: nothing traps", arguments: 0..<8)
    func damagedFilesNeverTrap(batch: Int) throws {
        let original = try Self.original()
        let boxes = Self.boxes(original)
        let dir = TempDir()
        // In a camera's day folder, as the daemon keeps them, so that the index reads them too.
        let day = LocalTime.stamp(1_764_000_000).day
        let folder = "\(dir.path)/front/\(day)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var rng = Seeded(state: UInt64(batch))
        for n in 0..<150 {
            var bytes = Self.damage(original, boxes: boxes, &rng)
            if n % 3 == 0 { bytes = Self.damage(bytes, boxes: boxes, &rng) }
            let part = "\(folder)/\(day.replacingOccurrences(of: "-", with: ""))-1200\(String(format: "%02d", n % 60))_front-\(n).mp4.part"
            _ = FileManager.default.createFile(atPath: part, contents: Data(bytes))
            let scan = try MP4Reader.scan(path: part)
            _ = scan.duration
            for fragment in scan.fragments { _ = scan.wallStart(of: fragment) }
            _ = Verifier.verify(path: part)
            _ = SignatureVerifier.verify(path: part, expected: nil)
            _ = try? MetadataTrackReader.samples(path: part)
            if let report = try? Recovery.recover(partPath: part), let path = report.finalPath {
                _ = Verifier.verify(path: path)
                _ = SignatureVerifier.verify(path: path, expected: nil)
            }
        }
        _ = RecordingIndex(root: dir.path).recordings(camera: "front", from: 1_763_900_000_000_000_000, to: 1_764_100_000_000_000_000)
    }
}
