import Frames
import NIOCore

/// Camera JPEGs (MJPEG capture) passed through without re-encoding: checked, completed, wrapped.
///
/// Many UVC cameras send "MJPEG" frames without Huffman tables (the AVI1 convention): decoders
/// then assume the standard tables of ITU T.81 Annex K.3, which are spliced in here so that every
/// browser and player can show the frame. Truncated or corrupt frames are refused.
public enum JPEGPassthrough {
    /// Where the parts of a camera JPEG are.
    public struct Layout: Equatable, Sendable {
        /// Bytes through the EOI marker (cameras may pad the buffer after it).
        public var length: Int
        /// Whether the frame carries its own Huffman tables.
        public var hasHuffmanTables: Bool
        /// Offset of the SOS marker (where missing tables go).
        public var scanOffset: Int
        /// Size from the SOF header.
        public var width: Int
        /// Size from the SOF header.
        public var height: Int
    }

    /// Checks the marker structure: SOI, a frame header, a scan, and EOI after it. Nil when corrupt or truncated.
    public static func inspect(_ b: UnsafeRawBufferPointer) -> Layout? {
        let n = b.count
        guard n >= 4, b[0] == 0xFF, b[1] == 0xD8 else { return nil }
        var i = 2
        var hasDHT = false
        var size: (Int, Int)?
        while i + 4 <= n {
            guard b[i] == 0xFF else { return nil }
            let marker = b[i + 1]
            if marker == 0xFF { i += 1; continue }                        // fill byte
            if marker == 0x01 || (0xD0...0xD7).contains(marker) { i += 2; continue }
            let length = Int(b[i + 2]) << 8 | Int(b[i + 3])
            guard length >= 2, i + 2 + length <= n else { return nil }
            switch marker {
            case 0xC4: hasDHT = true
            case 0xC0...0xC3, 0xC5...0xC7, 0xC9...0xCB, 0xCD...0xCF:
                guard length >= 7 else { return nil }
                size = (Int(b[i + 7]) << 8 | Int(b[i + 8]), Int(b[i + 5]) << 8 | Int(b[i + 6]))
            case 0xDA:
                guard let (w, h) = size, w > 0, h > 0 else { return nil }
                // Entropy-coded data cannot contain FF D9: the first one ends the image.
                var j = i + 2 + length
                while j + 1 < n {
                    if b[j] == 0xFF && b[j + 1] == 0xD9 {
                        return Layout(length: j + 2, hasHuffmanTables: hasDHT, scanOffset: i, width: w, height: h)
                    }
                    j += 1
                }
                return nil
            case 0xD9:
                return nil  // EOI before any scan
            default:
                break
            }
            i += 2 + length
        }
        return nil
    }

    /// An encoded frame from a camera JPEG, or nil when it is corrupt, truncated or not `width`×`height`.
    public static func frame(_ bytes: UnsafeRawBufferPointer, sequence: UInt64, time: CaptureTime, width: Int, height: Int,
                             allocator: ByteBufferAllocator = ByteBufferAllocator()) -> EncodedFrame? {
        guard let layout = inspect(bytes), layout.width == width, layout.height == height else { return nil }
        if layout.hasHuffmanTables {
            return EncodedFrame(jpeg: UnsafeRawBufferPointer(rebasing: bytes[0..<layout.length]), sequence: sequence, time: time,
                                width: width, height: height, encodeNanos: 0, allocator: allocator)
        }
        return standardTables.withUnsafeBytes { dht in
            EncodedFrame(jpegChunks: [UnsafeRawBufferPointer(rebasing: bytes[0..<layout.scanOffset]), dht,
                                      UnsafeRawBufferPointer(rebasing: bytes[layout.scanOffset..<layout.length])],
                         sequence: sequence, time: time, width: width, height: height, encodeNanos: 0, allocator: allocator)
        }
    }

    /// A DHT segment with the four standard tables of ITU T.81 Annex K.3.
    public static let standardTables: [UInt8] = {
        let dcBits: [UInt8] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
        let dcChromaBits: [UInt8] = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
        let dcValues: [UInt8] = Array(0...11)
        let acBits: [UInt8] = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D]
        let acValues: [UInt8] = [
            0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
            0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xA1, 0x08, 0x23, 0x42, 0xB1, 0xC1, 0x15, 0x52, 0xD1, 0xF0,
            0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0A, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x25, 0x26, 0x27, 0x28,
            0x29, 0x2A, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
            0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
            0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
            0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7,
            0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5,
            0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE1, 0xE2,
            0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8,
            0xF9, 0xFA,
        ]
        let acChromaBits: [UInt8] = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77]
        let acChromaValues: [UInt8] = [
            0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
            0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xA1, 0xB1, 0xC1, 0x09, 0x23, 0x33, 0x52, 0xF0,
            0x15, 0x62, 0x72, 0xD1, 0x0A, 0x16, 0x24, 0x34, 0xE1, 0x25, 0xF1, 0x17, 0x18, 0x19, 0x1A, 0x26,
            0x27, 0x28, 0x29, 0x2A, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
            0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
            0x69, 0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
            0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5,
            0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3,
            0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA,
            0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8,
            0xF9, 0xFA,
        ]
        let tables: [(UInt8, [UInt8], [UInt8])] = [(0x00, dcBits, dcValues), (0x10, acBits, acValues),
                                                   (0x01, dcChromaBits, dcValues), (0x11, acChromaBits, acChromaValues)]
        var body: [UInt8] = []
        for (classAndId, bits, values) in tables {
            precondition(bits.reduce(0) { $0 + Int($1) } == values.count)
            body.append(classAndId)
            body += bits
            body += values
        }
        let length = body.count + 2
        return [0xFF, 0xC4, UInt8(length >> 8), UInt8(length & 0xFF)] + body
    }()
}
