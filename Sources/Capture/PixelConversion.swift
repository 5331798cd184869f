import Frames

/// Conversions for camera layouts libjpeg-turbo cannot take as planes.
public enum PixelConversion {
    /// Packed YUYV (4:2:2) rows of `stride` bytes into planar Y, U, V of a 4:2:2 frame.
    public static func yuyvToPlanar(_ src: UnsafePointer<UInt8>, stride: Int, width: Int, height: Int, into planes: [Plane]) {
        let (yp, up, vp) = (planes[0], planes[1], planes[2])
        for row in 0..<height {
            let s = src + row * stride
            let y = yp.row(row), u = up.row(row), v = vp.row(row)
            for pair in 0..<(width / 2) {
                let p = s + pair * 4
                y[pair * 2] = p[0]
                u[pair] = p[1]
                y[pair * 2 + 1] = p[2]
                v[pair] = p[3]
            }
        }
    }

    /// The interleaved UV plane of NV12 (rows of `stride` bytes) into separate U and V planes.
    public static func splitNV12Chroma(_ src: UnsafePointer<UInt8>, stride: Int, width: Int, height: Int, u: Plane, v: Plane) {
        for row in 0..<(height + 1) / 2 {
            let s = src + row * stride
            let ur = u.row(row), vr = v.row(row)
            for x in 0..<(width + 1) / 2 {
                ur[x] = s[x * 2]
                vr[x] = s[x * 2 + 1]
            }
        }
    }
}
