import Frames

/// The picture viewers see while a camera is lost: "NO SIGNAL", the camera id and the reason, on
/// dark grey (the clock is added by the overlay like on every frame).
public enum NoSignalFrame {
    /// Renders into `buffer` as YUV 4:2:0 of the given size.
    public static func render(into buffer: BufferPool.Buffer, width: Int, height: Int, cameraID: String, reason: String,
                              sequence: UInt64) -> RawFrame {
        let planes = buffer.planes(format: .yuv420, width: width, height: height)
        for (i, p) in planes.enumerated() {
            for row in 0..<p.height { p.row(row).update(repeating: i == 0 ? 40 : 128, count: p.width) }
        }
        let big = max(2, height / 40)
        let title = "NO SIGNAL"
        let t = BitmapFont.size(of: title, scale: big)
        BitmapFont.draw(title, on: planes[0], x: (width - t.width) / 2, y: height / 2 - t.height - big * 2, scale: big,
                        foreground: 235, background: nil)
        let small = max(1, height / 160)
        let maxChars = max(8, (width - 8) / (BitmapFont.advance * small))
        var lines = [cameraID.uppercased()]
        var rest = Substring(reason.uppercased())
        while !rest.isEmpty && lines.count < 4 {
            lines.append(String(rest.prefix(maxChars)))
            rest = rest.dropFirst(maxChars)
        }
        var y = height / 2 + big
        for line in lines {
            let s = BitmapFont.size(of: line, scale: small)
            BitmapFont.draw(line, on: planes[0], x: (width - s.width) / 2, y: y, scale: small, foreground: 200, background: nil)
            y += s.height + small * 4
        }
        return RawFrame(format: .yuv420, width: width, height: height, planes: planes, sequence: sequence, time: .now(), storage: buffer)
    }
}
