import Capture
import Encoding
import Foundation
import Frames
import NIOCore

/// A frame of uniform `luma` (chroma neutral) in a pool buffer of its own.
func uniformFrame(_ format: PixelFormat = .yuv420, width: Int = 320, height: Int = 240, luma: UInt8 = 128,
                  sequence: UInt64 = 0, time: CaptureTime = .now()) -> (frame: RawFrame, pool: BufferPool) {
    let pool = BufferPool(count: 1, bytesPerBuffer: BufferPool.Buffer.byteCount(format: format, width: width, height: height))
    let buffer = pool.acquire()!
    let planes = buffer.planes(format: format, width: width, height: height)
    for (i, p) in planes.enumerated() {
        for row in 0..<p.height { p.row(row).update(repeating: i == 0 ? luma : 128, count: p.width) }
    }
    return (RawFrame(format: format, width: width, height: height, planes: planes, sequence: sequence, time: time, storage: buffer), pool)
}

/// Copies a plane's samples out, row by row.
func samples(_ plane: Plane) -> [UInt8] {
    var out: [UInt8] = []
    for row in 0..<plane.height { out.append(contentsOf: UnsafeBufferPointer(start: plane.row(row), count: plane.width)) }
    return out
}

/// An encoded frame with the given sequence number (contents are a tiny fake JPEG: only the bus sees it).
func fakeEncoded(_ sequence: UInt64) -> EncodedFrame {
    let bytes: [UInt8] = [0xFF, 0xD8, UInt8(sequence & 0xFF), 0xFF, 0xD9]
    return bytes.withUnsafeBytes { EncodedFrame(jpeg: $0, sequence: sequence, time: .now(), width: 1, height: 1, encodeNanos: 0) }
}

extension ByteBuffer {
    var bytes: [UInt8] { getBytes(at: readerIndex, length: readableBytes) ?? [] }
}

/// Polls `condition` every 10 ms for up to `seconds`; whether it became true.
func waitUntil(_ seconds: Double, _ condition: () -> Bool) -> Bool {
    let end = Date().addingTimeInterval(seconds)
    while Date() < end {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}
