import Encoding
import NIOCore

/// The multipart framing of the live MJPEG stream (the format of mjpg-streamer and ustreamer):
/// a boundary line and part headers before each JPEG, a line break after it.
enum MJPEGPart {
    /// Boundary between parts.
    static let boundary = "blackboxframe"
    /// Value of the stream response's Content-Type.
    static let contentType = "multipart/x-mixed-replace;boundary=\(boundary)"
    private static let lineBreak = ByteBuffer(staticString: "\r\n")

    /// The buffers of one part: headers, the frame's own JPEG bytes (shared, not copied), line break.
    static func buffers(_ frame: EncodedFrame) -> [ByteBuffer] {
        let header = "--\(boundary)\r\nContent-Type: image/jpeg\r\nContent-Length: \(frame.bytes.readableBytes)\r\n"
            + "X-Timestamp: \(frame.time.timestamp)\r\n\r\n"
        return [ByteBuffer(string: header), frame.bytes, lineBreak]
    }
}
