/// Where the parts of a camera JPEG are: found by walking its markers.
public struct JPEGLayout: Equatable, Sendable {
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

extension JPEGLayout {
    /// Checks the marker structure: SOI, a frame header, a scan, and EOI after it. Nil when corrupt or truncated.
    public static func inspect(_ b: UnsafeRawBufferPointer) -> JPEGLayout? {
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
                        return JPEGLayout(length: j + 2, hasHuffmanTables: hasDHT, scanOffset: i, width: w, height: h)
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
}
