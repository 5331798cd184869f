/// A built-in 5×7 bitmap font for burning text (clock, camera id) into the luma plane.
///
/// Hand-drawn here so that the overlay needs no font files or font library on the device.
/// Lower-case letters are drawn as capitals; characters without a glyph are drawn as `?`.
public enum BitmapFont {
    /// Glyph width in font pixels.
    public static let glyphWidth = 5
    /// Glyph height in font pixels.
    public static let glyphHeight = 7
    /// Horizontal distance from one glyph to the next (one column of spacing).
    public static let advance = 6

    // Rows top to bottom, 5 bits each, most significant bit = leftmost pixel.
    private static let rows: [Character: [UInt8]] = [
        " ": [0, 0, 0, 0, 0, 0, 0],
        "0": [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E], "1": [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        "2": [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F], "3": [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        "4": [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02], "5": [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        "6": [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E], "7": [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        "8": [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E], "9": [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        "A": [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11], "B": [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        "C": [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E], "D": [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        "E": [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F], "F": [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        "G": [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F], "H": [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        "I": [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E], "J": [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        "K": [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11], "L": [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        "M": [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11], "N": [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        "O": [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E], "P": [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        "Q": [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D], "R": [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        "S": [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E], "T": [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        "U": [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E], "V": [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        "W": [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A], "X": [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        "Y": [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04], "Z": [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        "-": [0, 0, 0, 0x1F, 0, 0, 0], ":": [0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0],
        ".": [0, 0, 0, 0, 0, 0x0C, 0x0C], "/": [0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x10],
        "_": [0, 0, 0, 0, 0, 0, 0x1F], "+": [0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0],
        "@": [0x0E, 0x11, 0x01, 0x0D, 0x15, 0x15, 0x0E], "(": [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ")": [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08], "=": [0, 0, 0x1F, 0, 0x1F, 0, 0],
        ",": [0, 0, 0, 0, 0x0C, 0x04, 0x08], "!": [0x04, 0x04, 0x04, 0x04, 0x04, 0, 0x04],
        "%": [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03], "#": [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A],
        "?": [0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04],
    ]

    // Indexed by ASCII code for the per-frame hot path; each entry is 7 rows.
    private static let table: [[UInt8]] = (0..<128).map { code in
        let c = Character(Unicode.Scalar(UInt8(code)))
        let upper = Character(c.uppercased())
        return rows[upper] ?? rows["?"]!
    }

    /// The seven 5-bit rows of `byte`'s glyph (upper-cased; `?` when there is none).
    public static func glyph(_ byte: UInt8) -> [UInt8] {
        table[Int(byte < 128 ? byte : UInt8(ascii: "?"))]
    }

    /// Pixel size of `text` drawn at `scale`, without padding.
    public static func size(of text: String, scale: Int) -> (width: Int, height: Int) {
        let n = text.utf8.count
        return (n == 0 ? 0 : (n * advance - 1) * scale, glyphHeight * scale)
    }

    /// Draws `text` into `plane` with its top-left corner at (`x`, `y`), each font pixel a `scale`×`scale` square.
    ///
    /// With `background`, a box `padding` pixels larger than the text is filled first so that the text
    /// reads on any picture. Everything outside the plane is clipped.
    public static func draw(_ text: String, on plane: Plane, x: Int, y: Int, scale: Int,
                            foreground: UInt8 = 235, background: UInt8? = 16, padding: Int = 0) {
        let s = max(1, scale)
        let (w, h) = size(of: text, scale: s)
        if let background {
            fill(plane, x: x - padding, y: y - padding, width: w + 2 * padding, height: h + 2 * padding, value: background)
        }
        var penX = x
        for byte in text.utf8 {
            let g = glyph(byte)
            for row in 0..<glyphHeight {
                let bits = g[row]
                if bits == 0 { continue }
                for col in 0..<glyphWidth where bits & (0x10 >> UInt8(col)) != 0 {
                    fill(plane, x: penX + col * s, y: y + row * s, width: s, height: s, value: foreground)
                }
            }
            penX += advance * s
        }
    }

    /// Draws `text` as a white-on-black label into a frame's planes: glyphs into the luma plane
    /// (the first), neutral grey into the chroma planes under the box so no picture colour tints it.
    /// Returns the box covered, padding included.
    @discardableResult
    public static func drawLabel(_ text: String, on planes: [Plane], x: Int, y: Int, scale: Int, padding: Int) -> (x: Int, y: Int, width: Int, height: Int) {
        guard let luma = planes.first else { return (x, y, 0, 0) }
        draw(text, on: luma, x: x, y: y, scale: scale, padding: padding)
        let size = self.size(of: text, scale: scale)
        let box = (x: x - padding, y: y - padding, width: size.width + 2 * padding, height: size.height + 2 * padding)
        for chroma in planes.dropFirst() {
            let sx = max(1, luma.width / max(1, chroma.width)), sy = max(1, luma.height / max(1, chroma.height))
            fill(chroma, x: box.x / sx, y: box.y / sy, width: (box.x + box.width + sx - 1) / sx - box.x / sx,
                 height: (box.y + box.height + sy - 1) / sy - box.y / sy, value: 128)
        }
        return box
    }

    /// Fills a rectangle of `plane` with `value`, clipped to the plane.
    public static func fill(_ plane: Plane, x: Int, y: Int, width: Int, height: Int, value: UInt8) {
        let x0 = max(0, x), y0 = max(0, y)
        let x1 = min(plane.width, x + width), y1 = min(plane.height, y + height)
        guard x1 > x0, y1 > y0 else { return }
        for row in y0..<y1 {
            (plane.row(row) + x0).update(repeating: value, count: x1 - x0)
        }
    }
}
