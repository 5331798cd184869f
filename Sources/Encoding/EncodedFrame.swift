import Frames
import NIOCore
import Rules

/// The codecs frames are encoded with (JSON and configuration spell them as the cases are named).
public enum VideoCodec: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// Motion JPEG: every frame a JPEG, every frame a keyframe.
    case mjpeg
    /// H.264 from x264: an IDR picture at each fragment start, predicted pictures between.
    case h264

    /// The spelling of the configuration and the API.
    public var description: String { rawValue }
}

/// One encoded frame, shared by every consumer of its codec (live viewers, snapshot, recorder):
/// its codec, whether it decodes on its own, and its bytes. How it travels (a multipart part, an
/// MP4 sample, an RTP packet) is for the consumer to frame.
public struct EncodedFrame: Sendable {
    /// Source sequence number.
    public let sequence: UInt64
    /// Capture time of the raw frame.
    public let time: CaptureTime
    /// Picture width.
    public let width: Int
    /// Picture height.
    public let height: Int
    /// The codec of `bytes`.
    public let codec: VideoCodec
    /// Whether the frame decodes without any other (every JPEG; H.264 IDR pictures).
    public let isKeyframe: Bool
    /// A complete JPEG, or an H.264 access unit as length-prefixed NAL units.
    public let bytes: ByteBuffer
    /// Nanoseconds spent on overlay + compression (0 for pass-through).
    public let encodeNanos: UInt64
    /// H.264 SPS and PPS of the stream the frame belongs to (travel with every H.264 frame; nil for JPEG).
    public let parameterSets: H264ParameterSets?

    /// A JPEG (one copy into a buffer of the exact size).
    public init(jpeg bytes: UnsafeRawBufferPointer, sequence: UInt64, time: CaptureTime, width: Int, height: Int,
                encodeNanos: UInt64, allocator: ByteBufferAllocator = ByteBufferAllocator()) {
        self.init(jpegChunks: [bytes], sequence: sequence, time: time, width: width, height: height,
                  encodeNanos: encodeNanos, allocator: allocator)
    }

    /// A JPEG given as consecutive chunks (e.g. a camera's frame with Huffman tables spliced in).
    public init(jpegChunks chunks: [UnsafeRawBufferPointer], sequence: UInt64, time: CaptureTime, width: Int, height: Int,
                encodeNanos: UInt64, allocator: ByteBufferAllocator = ByteBufferAllocator()) {
        var buffer = allocator.buffer(capacity: chunks.reduce(0) { $0 + $1.count })
        for chunk in chunks { buffer.writeBytes(chunk) }
        self.init(codec: .mjpeg, isKeyframe: true, bytes: buffer, sequence: sequence, time: time, width: width, height: height,
                  encodeNanos: encodeNanos)
    }

    /// A frame of any codec around bytes already in a buffer.
    public init(codec: VideoCodec, isKeyframe: Bool, bytes: ByteBuffer, sequence: UInt64, time: CaptureTime, width: Int, height: Int,
                encodeNanos: UInt64, parameterSets: H264ParameterSets? = nil) {
        self.parameterSets = parameterSets
        self.codec = codec
        self.isKeyframe = isKeyframe
        self.bytes = bytes
        self.sequence = sequence
        self.time = time
        self.width = width
        self.height = height
        self.encodeNanos = encodeNanos
    }
}

extension VideoCodec: NamedChoice {}

extension EncodedFrame {
    /// The same frame around other bytes (the recorder's pre-roll drops them once written and reads them back).
    public func with(bytes: ByteBuffer) -> EncodedFrame {
        EncodedFrame(codec: codec, isKeyframe: isKeyframe, bytes: bytes, sequence: sequence, time: time, width: width, height: height,
                     encodeNanos: encodeNanos, parameterSets: parameterSets)
    }
}
