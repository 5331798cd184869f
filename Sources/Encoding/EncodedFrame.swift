import Frames
import NIOCore

/// A JPEG frame, encoded once and shared by every consumer (live viewers, snapshot, recorder).
///
/// The bytes live in one buffer laid out as a complete `multipart/x-mixed-replace` part, so a
/// live viewer sends `part` as is and everybody else reads `jpeg`, a slice of the same memory.
public struct EncodedFrame: Sendable {
    /// Source sequence number.
    public let sequence: UInt64
    /// Capture time of the raw frame.
    public let time: CaptureTime
    /// Picture width.
    public let width: Int
    /// Picture height.
    public let height: Int
    /// Boundary line, part headers, JPEG, CRLF.
    public let part: ByteBuffer
    /// Just the JPEG (a slice of `part`).
    public let jpeg: ByteBuffer
    /// Nanoseconds spent on overlay + compression (0 for pass-through).
    public let encodeNanos: UInt64

    /// Wraps JPEG bytes into a multipart part (one copy into a buffer of the exact final size).
    public init(jpeg bytes: UnsafeRawBufferPointer, sequence: UInt64, time: CaptureTime, width: Int, height: Int,
                encodeNanos: UInt64, allocator: ByteBufferAllocator = ByteBufferAllocator()) {
        self.init(jpegChunks: [bytes], sequence: sequence, time: time, width: width, height: height,
                  encodeNanos: encodeNanos, allocator: allocator)
    }

    /// Wraps a JPEG given as consecutive chunks (e.g. a camera's frame with Huffman tables spliced in).
    public init(jpegChunks chunks: [UnsafeRawBufferPointer], sequence: UInt64, time: CaptureTime, width: Int, height: Int,
                encodeNanos: UInt64, allocator: ByteBufferAllocator = ByteBufferAllocator()) {
        let length = chunks.reduce(0) { $0 + $1.count }
        let header = MJPEGPart.header(length: length, time: time)
        var buffer = allocator.buffer(capacity: header.utf8.count + length + 2)
        buffer.writeString(header)
        let jpegStart = buffer.writerIndex
        for chunk in chunks { buffer.writeBytes(chunk) }
        buffer.writeStaticString("\r\n")
        self.part = buffer
        self.jpeg = buffer.getSlice(at: jpegStart, length: length)!
        self.sequence = sequence
        self.time = time
        self.width = width
        self.height = height
        self.encodeNanos = encodeNanos
    }
}

/// The multipart framing of the live stream (the format of mjpg-streamer and ustreamer).
public enum MJPEGPart {
    /// Boundary between parts.
    public static let boundary = "blackboxframe"
    /// Value of the stream response's Content-Type.
    public static let contentType = "multipart/x-mixed-replace;boundary=\(boundary)"

    /// Boundary line and headers for a JPEG of `length` bytes.
    static func header(length: Int, time: CaptureTime) -> String {
        "--\(boundary)\r\nContent-Type: image/jpeg\r\nContent-Length: \(length)\r\nX-Timestamp: \(time.timestamp)\r\n\r\n"
    }
}
