import Encoding
import FrameBus
import Foundation
import Frames
import Platform
import NIOCore
import ServiceSettings
import Testing
@testable import RTSP

@Suite("RTSP: RTP packets, the sender, settings")
struct RTSPTests {
    /// Access units of a moving 320x240 picture, an IDR picture every 10 frames, as the camera's frames.
    func frames(_ count: Int) throws -> [EncodedFrame] {
        let picture = MovingPicture(width: 320, height: 240)
        let encoder = try H264Encoder(width: 320, height: 240, fps: 15, keyframeInterval: 30)
        return try (0..<count).map { n in
            let unit = try #require(try encoder.encode(picture.planes(frame: n), pts: Int64(n), keyframe: n % 10 == 0))
            return EncodedFrame(codec: .h264, isKeyframe: unit.isKeyframe, bytes: ByteBuffer(bytes: unit.bytes), sequence: UInt64(n + 1),
                                time: CaptureTime(monotonicNanos: UInt64(n) * 66_666_667, wallSeconds: 1_764_000_000, wallNanos: 0),
                                width: 320, height: 240, encodeNanos: 0, parameterSets: encoder.parameterSets)
        }
    }

    /// The NAL units of a length-prefixed access unit.
    func nals(_ bytes: [UInt8]) -> [[UInt8]] {
        var out: [[UInt8]] = [], i = 0
        while i + 4 <= bytes.count {
            let n = bytes[i..<i + 4].reduce(0) { $0 << 8 | Int($1) }
            out.append(Array(bytes[i + 4..<i + 4 + n]))
            i += 4 + n
        }
        return out
    }

    @Test("single NAL packets and FU-A fragments give back every NAL unit; the marker ends each access unit")
    func packetizer() throws {
        var rtp = RTPPacketizer()
        var sequence: UInt16?
        var sawFragments = false
        for (n, frame) in try frames(20).enumerated() {
            let unit = Array(frame.bytes.readableBytesView)
            let packets = unit.withUnsafeBytes { rtp.packets(accessUnit: $0, timestamp: UInt32(n * 6000)) }
            var rebuilt: [[UInt8]] = [], partial: [UInt8]?
            for (i, p) in packets.enumerated() {
                #expect(p[0] == 0x80 && p[1] & 0x7F == 96 && p.count <= 1412)  // 12-byte header + 1400: fits a 1500-byte MTU with IP, UDP and tunnel headers
                #expect((p[1] & 0x80 != 0) == (i == packets.count - 1), "marker only on the last packet")
                let seq = UInt16(p[2]) << 8 | UInt16(p[3])
                if let last = sequence { #expect(seq == last &+ 1) }
                sequence = seq
                let timestamp: UInt32 = p[4..<8].reduce(0) { $0 << 8 | UInt32($1) }
                #expect(timestamp == UInt32(n * 6000))
                let payload = Array(p[12...])
                if payload[0] & 0x1F == 28 {
                    sawFragments = true
                    if payload[1] & 0x80 != 0 { partial = [(payload[0] & 0xE0) | (payload[1] & 0x1F)] }
                    partial? += payload[2...]
                    if payload[1] & 0x40 != 0, let whole = partial { rebuilt.append(whole); partial = nil }
                } else {
                    rebuilt.append(payload)
                }
            }
            #expect(rebuilt == nals(unit))
        }
        #expect(sawFragments, "an IDR picture of 320x240 is larger than one packet")
        let report = rtp.senderReport(unixNanos: 1_764_000_000_500_000_000, timestamp: 1234)
        #expect(report.count == 28 && report[1] == 200)
        let seconds: UInt32 = report[8..<12].reduce(0) { $0 << 8 | UInt32($1) }
        let fraction: UInt32 = report[12..<16].reduce(0) { $0 << 8 | UInt32($1) }
        #expect(seconds == 3_972_988_800, "NTP seconds: since 1900")
        #expect(fraction == 1 << 31, "half a second")
    }

    @Test("the sender starts at a keyframe with the parameter sets in front, and waits for the next one after a loss")
    func sender() throws {
        let all = try frames(25)
        var sender = AccessUnitSender()
        var pushed: [(key: Bool, nals: [[UInt8]])] = []
        var refuse = false
        func push(_ frame: EncodedFrame) -> AccessUnitSender.Outcome {
            sender.send(frame) { config, f, bytes in
                #expect(Array(config) == f.parameterSets?.decoderConfiguration)
                if refuse { return -1 }
                pushed.append((f.isKeyframe, nals(Array(bytes))))
                return 1
            }
        }
        #expect(push(all[3]) == .held, "no keyframe yet")
        #expect(push(all[10]) == .sent)
        let sets = try #require(all[10].parameterSets)
        #expect(pushed[0].nals.prefix(2).elementsEqual([sets.sps, sets.pps]) && pushed[0].nals.dropFirst(2).elementsEqual(nals(Array(all[10].bytes.readableBytesView))))
        #expect(push(all[11]) == .sent && pushed[1].nals == nals(Array(all[11].bytes.readableBytesView)), "no parameter sets before other pictures")
        #expect(push(all[13]) == .held, "frame 13 follows a gap")
        #expect(push(all[20]) == .sent)
        refuse = true
        #expect(push(all[21]) == .dropped)
        refuse = false
        #expect(push(all[22]) == .held, "after a refused frame the next keyframe is awaited")
        #expect(push(all[22]) == .held, "a frame is not sent twice")
    }

    @Test("keyframe gate: nothing before a keyframe, nothing after a gap until the next")
    func gate() throws {
        let all = try frames(21)
        var gate = KeyframeGate()
        #expect(!gate.admit(all[1]) && gate.admit(all[10]) && gate.admit(all[11]) && !gate.admit(all[11]))
        #expect(!gate.admit(all[14]) && !gate.admit(all[15]) && gate.admit(all[20]))
    }

    @Test("backoff: 1 s doubling to 30 s, 1 s again after a success")
    func backoff() {
        var b = Backoff()
        #expect((0..<7).map { _ in b.next() / 1_000_000_000 } == [1, 2, 4, 8, 16, 30, 30])
        b.reset()
        #expect(b.next() == 1_000_000_000)
    }

    @Test("settings: paths, a shared path, a push address and its placeholder, with what is allowed")
    func settings() throws {
        var s = RTSPSettings()
        s.paths = ["yard": "garden/cam"]
        try s.validate(cameras: ["front", "yard"])
        #expect(s.path(for: "front") == "front" && s.path(for: "yard") == "garden/cam")
        s.publish = "rtsp://user:pw@central:8554/{path}"
        #expect(s.publishURL(for: "yard") == "rtsp://user:pw@central:8554/garden/cam")
        try s.validate(cameras: ["front", "yard"])
        func message(_ change: (inout RTSPSettings) -> Void) -> String {
            var bad = RTSPSettings()
            change(&bad)
            do { try bad.validate(cameras: ["front", "yard"]) } catch { return error.description }
            return ""
        }
        #expect(message { $0.paths = ["yard": "front"] }.contains("both have the RTSP path 'front'"))
        #expect(message { $0.paths = ["front": "/x"] }.contains("allowed: 1 to 64 letters"))
        #expect(message { $0.paths = ["rear": "x"] }.contains("camera 'rear', which is not configured"))
        #expect(message { $0.publish = "rtsp://central/cam" }.contains("needs {path} or {camera}"))
        #expect(message { $0.port = 70000 }.contains("allowed: 1 to 65535"))
        #expect(RTSPPublisher.hidingPassword("rtsp://u:secret@h:1/p") == "rtsp://u:***@h:1/p")
        #expect(RTSPPublisher.hidingPassword("rtsp://h:1/p") == "rtsp://h:1/p")
    }

    @Test("Digest HA1 as RFC 2617 computes it; the push SDP carries the parameter sets and the profile")
    func digestAndSDP() throws {
        #expect(DigestAuth.ha1(user: "Mufasa", realm: "testrealm@host.com", password: "Circle Of Life") == "939e7578ed9e3c518a452acee763bce9")
        let sets = try #require(try frames(1)[0].parameterSets)
        let sdp = RTSPPublisher.sdp(sets: sets, fps: 15, host: "10.0.0.1")
        #expect(sdp.contains("sprop-parameter-sets=\(Data(sets.sps).base64EncodedString()),\(Data(sets.pps).base64EncodedString())"))
        #expect(sdp.contains("profile-level-id=\(sets.sps[1...3].map { String(format: "%02X", $0) }.joined())"))
        #expect(sdp.contains("a=control:streamid=0") && sdp.hasSuffix("\r\n") && !sdp.contains("m=audio"))
        // With sound: an AAC-hbr track after the picture, with the AudioSpecificConfig of AAC-LC mono 48 kHz (0x1188).
        let withSound = RTSPPublisher.sdp(sets: sets, fps: 15, host: "10.0.0.1", audio: AudioFormat())
        #expect(withSound.hasPrefix(sdp) && withSound.contains("m=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/48000/1\r\n"))
        #expect(withSound.contains("mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=1188\r\na=control:streamid=1\r\n"))
    }

    @Test("an AAC unit is one RTP packet: type 97, marker set, the AU-headers length (16 bits) and the unit's size in 13 bits")
    func aacPacket() {
        var rtp = RTPPacketizer(type: RTPPacketizer.aacPayloadType)
        let unit = [UInt8](repeating: 7, count: 300)
        let first = rtp.packet(aacUnit: unit, timestamp: 48_000)
        let second = rtp.packet(aacUnit: unit, timestamp: 49_024)
        #expect(first[1] == 0x80 | 97 && first.count == 12 + 4 + 300)
        #expect(Array(first[4..<8]) == RTPPacketizer.bigEndian(48_000) && Array(second[4..<8]) == RTPPacketizer.bigEndian(49_024))
        #expect(Array(first[12..<16]) == [0x00, 0x10, UInt8(300 >> 5), UInt8((300 & 0x1F) << 3)])
        #expect(UInt16(second[2]) << 8 | UInt16(second[3]) == (UInt16(first[2]) << 8 | UInt16(first[3])) &+ 1)
        #expect(Array(first[16...]) == unit)
    }
}
