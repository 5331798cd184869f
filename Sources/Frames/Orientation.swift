import Rules

/// How a camera is mounted: turned half round (a dashcam hung from the windscreen upside down) and/or mirrored. Applied
/// to the raw picture before anything else sees it, so motion zones, the overlay, JPEG, H.264 and recordings all get
/// the turned picture. Quarter turns are not offered: they would swap the frame's width and height.
public struct Orientation: Sendable, Equatable, CustomStringConvertible {
    /// Degrees turned: 0 or 180.
    public var rotation: Int
    /// Mirrored left to right.
    public var hflip: Bool
    /// Mirrored top to bottom.
    public var vflip: Bool

    /// The rotations allowed, and how an error says them.
    public static let rotations = [0, 180]
    /// The words of the rule.
    public static let rotationAllowed = "0 or 180 (degrees)"

    /// Upright, not mirrored.
    public init(rotation: Int = 0, hflip: Bool = false, vflip: Bool = false) {
        self.rotation = rotation
        self.hflip = hflip
        self.vflip = vflip
    }

    /// `rotation` checked: `NAME VALUE is not allowed; allowed: 0 or 180 (degrees)`.
    public static func checkRotation(_ value: Int, name: String = "rotation") throws(RuleError) {
        guard rotations.contains(value) else { throw RuleError("\(name) \(value) is not allowed; allowed: \(rotationAllowed)") }
    }

    /// Half a turn is both mirrors: what is done to the columns and to the rows.
    var mirrorsColumns: Bool { hflip != (rotation == 180) }
    var mirrorsRows: Bool { vflip != (rotation == 180) }

    /// Whether the picture is left as it comes.
    public var isUpright: Bool { !mirrorsColumns && !mirrorsRows }

    /// `180`, `0 hflip`, `180 vflip`, …
    public var description: String { "\(rotation)" + (hflip ? " hflip" : "") + (vflip ? " vflip" : "") }

    /// Turns `frame`'s planes in place (a camera JPEG, still compressed, is left as it is). Rows are swapped whole
    /// (memcpy) and reversed with the standard library's reverse: about a millisecond for a 720p picture.
    public func apply(to frame: RawFrame) {
        guard frame.format != .jpeg else { return }
        let columns = mirrorsColumns, rows = mirrorsRows
        guard columns || rows else { return }
        for plane in frame.planes {
            if rows {
                let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: plane.width)
                defer { scratch.deallocate() }
                for y in 0..<(plane.height / 2) {
                    let a = plane.row(y), b = plane.row(plane.height - 1 - y)
                    scratch.update(from: a, count: plane.width)
                    a.update(from: b, count: plane.width)
                    b.update(from: scratch, count: plane.width)
                    if columns {
                        Orientation.reverse(a, count: plane.width)
                        Orientation.reverse(b, count: plane.width)
                    }
                }
                if columns && plane.height % 2 == 1 { Orientation.reverse(plane.row(plane.height / 2), count: plane.width) }
            } else {
                for y in 0..<plane.height { Orientation.reverse(plane.row(y), count: plane.width) }
            }
        }
    }

    private static func reverse(_ row: UnsafeMutablePointer<UInt8>, count: Int) {
        var buffer = UnsafeMutableBufferPointer(start: row, count: count)
        buffer.reverse()
    }
}
