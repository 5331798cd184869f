import Encoding
import Evidence
import Foundation
import Frames
import Testing
@testable import Recording

@Suite("Signed recordings")
struct SigningTests {
    /// A finished file of `frames`, signed into `chain`, in fragments of 0.5 s.
    func signedFile(_ path: String, frames: [EncodedFrame], chain: FragmentChain) throws -> String {
        let file = try MP4File(path: path, first: frames[0], fragmentNanos: 500_000_000, sync: .never, nominalFps: 30, chain: chain)
        for f in frames { try file.append(f) }
        return try file.finish()
    }

    @Test("a link survives being stored and read back, and any changed field breaks its chain value")
    func linkRoundTrip() throws {
        let key = DeviceKey.generate()
        let chain = FragmentChain(id: "front", key: key)
        let bytes: [UInt8] = Array(repeating: 7, count: 100)
        let digest = bytes.withUnsafeBytes { FragmentDigest(durations: [3000, 3000], sizes: [40, 60], keyframes: [true, false], bytes: $0) }
        let first = chain.link(digest, wallStartNanos: 1_764_000_000_123_000_000, timescale: 90_000)
        let second = chain.link(digest, wallStartNanos: 1_764_000_000_623_000_000, timescale: 90_000)
        #expect(first.index == 0 && second.index == 1 && second.previous == first.chain && first.previous == [UInt8](repeating: 0, count: 32))
        let read = try #require(ChainLink(encoded: second.encoded))
        #expect(read == second && read.chainMatchesFields && read.signatureIsValid && read.publicKey == key.publicKey)
        var changed = read
        changed.wallStartNanos += 1_000_000_000
        #expect(!changed.chainMatchesFields)
        var forged = read
        forged.publicKey = DeviceKey.generate().publicKey
        #expect(!forged.signatureIsValid)
        #expect(ChainLink(encoded: Array(second.encoded.dropLast())) == nil)
    }

    @Test("public keys are read from PEM, base64 and hex, and anything else is refused with what is allowed")
    func publicKeyForms() throws {
        let key = DeviceKey.generate().publicKey
        #expect(try SigningPublicKey(text: key.pem) == key)
        #expect(try SigningPublicKey(text: key.base64) == key)
        #expect(try SigningPublicKey(text: key.raw.map { String(format: "%02x", $0) }.joined()) == key)
        #expect(key.fingerprint.hasPrefix("SHA256:") && key.fingerprint.count == 7 + 32 + 7)
        do {
            _ = try SigningPublicKey(text: "not a key")
            Issue.record("accepted a bad key")
        } catch {
            #expect(error.description.contains("allowed: a PEM 'PUBLIC KEY'"))
        }
        #expect(throws: EvidenceError.self) { try DeviceKey(base64Seed: "AAAA") }
    }

    @Test("segments signed into one chain verify intact each and as a chain; a missing middle file is named")
    func chainAcrossFiles() throws {
        let dir = TempDir()
        let key = DeviceKey.generate()
        let chain = FragmentChain(id: "cam", key: key)
        var paths: [String] = []
        for i in 0..<3 {
            let frames = jpegFrames(30, start: 1_000_000_000 + UInt64(i) * 1_000_000_000)
            paths.append(try signedFile(dir.path + "/cam/d/\(i).mp4", frames: frames, chain: chain))
        }
        let reports = paths.map { SignatureVerifier.verify(path: $0, expected: key.publicKey) }
        #expect(reports.allSatisfy { $0.verdict == .intact && $0.signedFragments == 2 && $0.findings.isEmpty })
        #expect(reports.map { $0.firstLink?.index } == [0, 2, 4])
        #expect(SignatureVerifier.checkChains(reports).isEmpty)
        #expect(SignatureVerifier.checkChains([reports[0], reports[2]]).first?.contains("2 fragments missing between") == true)
        // Checked against another key, every file says so.
        let other = DeviceKey.generate().publicKey
        #expect(SignatureVerifier.verify(path: paths[0], expected: other).verdict == .otherKey)
        // After a restart the chain continues from the newest link on disk.
        let resumed = try #require(Recorder.lastLink(chain: "cam", root: dir.path))
        #expect(resumed.index == 5 && resumed.chain == reports[2].lastLink?.chain)
        let empty = [UInt8]().withUnsafeBytes { FragmentDigest(durations: [], sizes: [], keyframes: [], bytes: $0) }
        let next = FragmentChain(id: "cam", key: key, after: resumed).link(empty, wallStartNanos: 0, timescale: 90_000)
        #expect(next.index == 6 && next.previous == resumed.chain)
    }

    @Test("an export across files with a hole keeps every signature, follows on in time and reports the hole")
    func exportWithGap() throws {
        let dir = TempDir()
        let key = DeviceKey.generate()
        let chain = FragmentChain(id: "cam", key: key)
        let a = try signedFile(dir.path + "/a.mp4", frames: jpegFrames(30, start: 1_000_000_000), chain: chain)
        // Ten seconds later: a hole in the recording.
        let b = try signedFile(dir.path + "/b.mp4", frames: jpegFrames(30, start: 12_000_000_000), chain: chain)
        let from = Int64(1_764_000_000 + 1) * 1_000_000_000, to = Int64(1_764_000_000 + 13) * 1_000_000_000
        let report = try RecordingExport.export(files: [b, a], from: from, to: to, output: dir.path + "/out.mp4")
        #expect(report.fragments == 4 && report.frames == 60 && report.sources == [a, b])
        #expect(report.gaps.count == 1 && abs(report.gaps[0].seconds - 10) < 0.2)
        let verified = SignatureVerifier.verify(path: dir.path + "/out.mp4", expected: key.publicKey)
        #expect(verified.verdict == .intact, "\(verified.findings)")
        let scan = try MP4Reader.scan(path: dir.path + "/out.mp4")
        #expect(abs(scan.duration - 2.0) < 0.01 && scan.fragments.map(\.sequence) == [1, 2, 3, 4])
        #expect(Verifier.verify(path: dir.path + "/out.mp4").isSound)
    }
}

@Suite("Times and cut exports")
struct TimelineTests {
    @Test("RFC 3339 times are read in every form the standard allows, and nothing else")
    func rfc3339() {
        #expect(WallTime.parse("2026-11-25T14:03:30Z") == 1_795_615_410_000_000_000)
        #expect(WallTime.parse("2026-11-25t14:03:30.5z") == 1_795_615_410_500_000_000)
        #expect(WallTime.parse("2026-11-25 15:03:30.123456789+01:00") == 1_795_615_410_123_456_789)
        #expect(WallTime.parse("2026-11-25T14:03:60Z") == 1_795_615_439_000_000_000)
        #expect(WallTime.parse("1969-12-31T23:59:59Z") == -1_000_000_000)
        for bad in ["yesterday", "2026-11-25", "2026-11-25T14:03:30", "2026-13-25T14:03:30Z", "2026-11-25T14:03:30+0100", "2026-11-25T14:03:30.Z"] {
            #expect(WallTime.parse(bad) == nil, "\(bad)")
        }
    }

    @Test("an export cut at frames proves the frames it kept; a cut inside the recording is reported")
    func cutExportVerifies() throws {
        let dir = TempDir()
        let key = DeviceKey.generate()
        let chain = FragmentChain(id: "cam", key: key)
        let file = try MP4File(path: dir.path + "/a.mp4", first: jpegFrames(1)[0], fragmentNanos: 500_000_000, sync: .never, nominalFps: 30, chain: chain)
        for f in jpegFrames(60) { try file.append(f) }
        let path = try file.finish()
        // From inside frame 7 (0.2 s) to inside frame 52 (1.7 s): MJPEG is cut at frames, those two included.
        let start = Int64(1_764_000_001) * 1_000_000_000
        let report = try RecordingExport.export(files: [path], from: start + 210_000_000, to: start + 1_710_000_000, output: dir.path + "/cut.mp4")
        #expect(report.frames == 46 && report.fragments == 4)
        let verified = SignatureVerifier.verify(path: dir.path + "/cut.mp4", expected: key.publicKey)
        #expect(verified.verdict == .intact, "\(verified.findings)")
        #expect(verified.findings.contains { $0.contains("fragment 1: cut by an export to frames 7–15 of its 15") })
        #expect(verified.findings.contains { $0.contains("fragment 4: cut by an export to frames 1–7 of its 15") })
        // An export of the export cuts again and still verifies.
        let again = try RecordingExport.export(files: [dir.path + "/cut.mp4"], from: start + 310_000_000, to: start + 1_610_000_000, output: dir.path + "/again.mp4")
        #expect(again.frames == 40)
        #expect(SignatureVerifier.verify(path: dir.path + "/again.mp4", expected: key.publicKey).verdict == .intact)
    }
}
