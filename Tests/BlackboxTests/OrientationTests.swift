import Frames
import Rules
import Testing

@Suite("Camera orientation")
struct OrientationTests {
    /// A frame whose every sample says where it is: plane i, row y, column x → 100·i + 10·y + x.
    static func numbered(_ format: PixelFormat, width: Int, height: Int) -> (RawFrame, BufferPool) {
        let (frame, pool) = uniformFrame(format, width: width, height: height)
        for (i, p) in frame.planes.enumerated() {
            for y in 0..<p.height { for x in 0..<p.width { p.row(y)[x] = UInt8(100 * i + 10 * y + x) } }
        }
        return (frame, pool)
    }

    /// What each plane should hold after turning: sample (x, y) comes from (mx, my).
    static func expected(_ frame: RawFrame, columns: Bool, rows: Bool) -> [[UInt8]] {
        frame.planes.enumerated().map { i, p in
            (0..<p.height).flatMap { y in
                (0..<p.width).map { x in UInt8(100 * i + 10 * (rows ? p.height - 1 - y : y) + (columns ? p.width - 1 - x : x)) }
            }
        }
    }

    @Test("every combination turns luma and chroma planes, odd heights included", arguments: [
        (Orientation(rotation: 180), true, true),
        (Orientation(hflip: true), true, false),
        (Orientation(vflip: true), false, true),
        (Orientation(rotation: 180, hflip: true), false, true),
        (Orientation(rotation: 180, vflip: true), true, false),
        (Orientation(rotation: 180, hflip: true, vflip: true), false, false),
        (Orientation(), false, false),
    ])
    func turns(orientation: Orientation, columns: Bool, rows: Bool) {
        for (format, width, height) in [(PixelFormat.yuv420, 8, 6), (.yuv422, 6, 5), (.grey, 4, 3)] {
            let (frame, pool) = Self.numbered(format, width: width, height: height)
            orientation.apply(to: frame)
            #expect(frame.planes.map(samples) == Self.expected(frame, columns: columns, rows: rows), "\(orientation) \(format)")
            #expect(orientation.isUpright == (!columns && !rows))
            frame.storage.release()
            _ = pool
        }
    }

    @Test("a rotation other than 0 or 180 is refused with what is allowed")
    func rule() {
        #expect(throws: Never.self) { try Orientation.checkRotation(180) }
        #expect(throws: RuleError("--rotation 90 is not allowed; allowed: 0 or 180 (degrees)")) {
            try Orientation.checkRotation(90, name: "--rotation")
        }
    }
}
