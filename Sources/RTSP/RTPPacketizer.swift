/// One RTP stream: H.264 (RFC 6184, packetization mode 1: a NAL unit that fits goes in one packet, a larger one in
/// FU-A fragments; the marker bit ends each access unit; clock 90 kHz) or AAC (RFC 3640 AAC-hbr, one access unit per
/// packet; clock the sample rate).
struct RTPPacketizer {
    /// Largest RTP payload (fits a 1500-byte Ethernet frame with IP, TCP and the interleaving header).
    static let maxPayload = 1400
    /// RTP payload type of H.264 announced in the SDP.
    static let payloadType: UInt8 = 96
    /// RTP payload type of AAC announced in the SDP.
    static let aacPayloadType: UInt8 = 97

    let ssrc: UInt32
    /// This stream's payload type.
    let type: UInt8
    private(set) var sequence: UInt16
    /// Packets and payload bytes made, for the sender reports.
    private(set) var packetCount: UInt32 = 0
    private(set) var octetCount: UInt32 = 0

    /// A packetizer of `type` with a random SSRC and first sequence number (RFC 3550).
    init(type: UInt8 = RTPPacketizer.payloadType) {
        self.type = type
        ssrc = UInt32.random(in: 1...UInt32.max)
        sequence = UInt16.random(in: 0...UInt16.max)
    }

    /// The RTP packets of one access unit given as 4-byte-length-prefixed NAL units, stamped `timestamp`.
    mutating func packets(accessUnit: UnsafeRawBufferPointer, timestamp: UInt32) -> [[UInt8]] {
        var nals: [UnsafeRawBufferPointer] = []
        var offset = 0
        while offset + 4 <= accessUnit.count {
            let length = Int(accessUnit[offset]) << 24 | Int(accessUnit[offset + 1]) << 16 | Int(accessUnit[offset + 2]) << 8 | Int(accessUnit[offset + 3])
            offset += 4
            guard length > 0, offset + length <= accessUnit.count else { break }
            nals.append(UnsafeRawBufferPointer(rebasing: accessUnit[offset..<offset + length]))
            offset += length
        }
        var out: [[UInt8]] = []
        for (index, nal) in nals.enumerated() {
            let lastNAL = index == nals.count - 1
            if nal.count <= Self.maxPayload {
                out.append(packet(payload: [nal], prefix: [], marker: lastNAL, timestamp: timestamp))
                continue
            }
            // FU-A: indicator (F, NRI, type 28), header (start, end, original type), then the NAL without its header byte.
            let header = nal[0]
            let indicator = (header & 0xE0) | 28
            var start = 1
            while start < nal.count {
                let end = min(start + Self.maxPayload - 2, nal.count)
                let first = start == 1, last = end == nal.count
                let fuHeader = (first ? 0x80 : 0) | (last ? 0x40 : 0) | (header & 0x1F)
                out.append(packet(payload: [UnsafeRawBufferPointer(rebasing: nal[start..<end])], prefix: [indicator, fuHeader],
                                  marker: last && lastNAL, timestamp: timestamp))
                start = end
            }
        }
        return out
    }

    /// One AAC access unit (no ADTS header) as an AAC-hbr packet: a 16-bit AU-headers length (16 bits), one AU header
    /// (13-bit size, 3-bit index 0), the unit; the marker set (the packet ends the unit).
    mutating func packet(aacUnit: [UInt8], timestamp: UInt32) -> [UInt8] {
        let size = UInt16(min(aacUnit.count, 0x1FFF)) << 3
        return aacUnit.withUnsafeBytes { unit in
            packet(payload: [unit], prefix: [0, 16, UInt8(size >> 8), UInt8(size & 0xFF)], marker: true, timestamp: timestamp)
        }
    }

    private mutating func packet(payload: [UnsafeRawBufferPointer], prefix: [UInt8], marker: Bool, timestamp: UInt32) -> [UInt8] {
        var p: [UInt8] = [0x80, (marker ? 0x80 : 0) | type, UInt8(sequence >> 8), UInt8(sequence & 0xFF)]
        p += Self.bigEndian(timestamp) + Self.bigEndian(ssrc) + prefix
        for part in payload { p.append(contentsOf: part) }
        sequence &+= 1
        packetCount &+= 1
        octetCount &+= UInt32(p.count - 12)
        return p
    }

    /// An RTCP sender report (RFC 3550 6.4.1) mapping `timestamp` to the wall-clock time `unixNanos`.
    func senderReport(unixNanos: UInt64, timestamp: UInt32) -> [UInt8] {
        let seconds = UInt32(truncatingIfNeeded: unixNanos / 1_000_000_000 + 2_208_988_800)
        let fraction = UInt32(truncatingIfNeeded: (unixNanos % 1_000_000_000) << 32 / 1_000_000_000)
        return [0x80, 200, 0, 6] + Self.bigEndian(ssrc) + Self.bigEndian(seconds) + Self.bigEndian(fraction) + Self.bigEndian(timestamp)
            + Self.bigEndian(packetCount) + Self.bigEndian(octetCount)
    }

    static func bigEndian(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
    }
}
