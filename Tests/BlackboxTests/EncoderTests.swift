import Encoding
import Frames
import Testing

@Suite("JPEG encoder")
struct EncoderTests {
    @Test("output decodes with libjpeg-turbo to the frame's size", arguments: [PixelFormat.yuv420, .yuv422, .grey])
    func decodesToSize(format: PixelFormat) throws {
        let (frame, pool) = uniformFrame(format, width: 320, height: 176)
        defer { frame.storage.release(); _ = pool }
        let jpeg = try JPEGEncoder().encode(frame, quality: 80) { Array($0) }
        #expect(jpeg.prefix(2) == [0xFF, 0xD8])
        #expect(jpeg.suffix(2) == [0xFF, 0xD9])
        let decoded = try jpeg.withUnsafeBytes { try JPEGDecoder().decodeRGB($0) }
        #expect(decoded.info == JPEGInfo(width: 320, height: 176))
        // Uniform grey in, uniform grey out (within JPEG rounding).
        #expect(decoded.rgb.allSatisfy { abs(Int($0) - 128) <= 3 })
    }

    @Test("higher quality gives a larger file for the same picture")
    func qualityMatters() throws {
        let source = TestPatternFixture.frame(width: 640, height: 360)
        defer { source.frame.storage.release() }
        let encoder = try JPEGEncoder()
        let low = try encoder.encode(source.frame, quality: 20) { $0.count }
        let high = try encoder.encode(source.frame, quality: 95) { $0.count }
        #expect(low < high)
    }

    @Test("an encoded JPEG frame says its codec and that it is a keyframe, and holds exactly the JPEG")
    func codecNeutralFrame() throws {
        let (frame, pool) = uniformFrame()
        defer { frame.storage.release(); _ = pool }
        var size = 0
        let encoded = try JPEGEncoder().encode(frame, quality: 80) { bytes in
            size = bytes.count
            return EncodedFrame(jpeg: bytes, sequence: 7, time: frame.time, width: 320, height: 240, encodeNanos: 1)
        }
        #expect(encoded.codec == .mjpeg && encoded.isKeyframe)
        #expect(encoded.bytes.readableBytes == size)
        #expect(Array(encoded.bytes.readableBytesView.prefix(2)) == [0xFF, 0xD8])
    }
}
