import Encoding
import Foundation
import Frames
import Testing
@testable import Serving

@Suite("Methods per path from the OpenAPI document")
struct AllowedMethodsTests {
    @Test("paths match their templates; {path} takes one or more segments; HEAD comes with GET")
    func matching() {
        let table = AllowedMethods.served
        #expect(table.methods(for: "/api/status") == ["GET", "HEAD", "OPTIONS"])
        #expect(table.methods(for: "/login") == ["GET", "HEAD", "POST", "OPTIONS"])
        #expect(table.methods(for: "/api/cameras/front/settings") == ["POST", "OPTIONS"])
        #expect(table.methods(for: "/recordings/front/2026-01-01/a.mp4") == ["GET", "HEAD", "OPTIONS"])
        #expect(table.methods(for: "/recordings/front/2026-01-01/a.mp4/play") == ["GET", "HEAD", "OPTIONS"])
        #expect(table.methods(for: "/api/cameras//settings") == nil)
        #expect(table.methods(for: "/nothing") == nil)
        #expect(table.methods(for: "/api/status/extra") == nil)
    }
}

@Suite("Connection limits")
struct ConnectionLimitTests {
    @Test("connections are capped below the open-file limit with the reserve kept")
    func capFitsTheDescriptorLimit() {
        var asked = ConnectionLimits()
        asked.maxConnections = 2000
        #expect(asked.fitting(descriptorLimit: 1024).maxConnections == 768)  // 256 descriptors kept for files and devices
        #expect(ConnectionLimits().fitting(descriptorLimit: 65536).maxConnections == 512)
        #expect(ConnectionLimits().fitting(descriptorLimit: 100).maxConnections == 1)
    }
}

@Suite("MJPEG multipart framing")
struct MJPEGPartTests {
    @Test("each part: boundary, type, Content-Length of the JPEG, timestamp, the JPEG itself, a line break")
    func framing() {
        let jpeg: [UInt8] = [0xFF, 0xD8, 1, 2, 3, 0xFF, 0xD9]
        let time = CaptureTime(monotonicNanos: 1, wallSeconds: 1_764_000_000, wallNanos: 500_000_000)
        let frame = jpeg.withUnsafeBytes { EncodedFrame(jpeg: $0, sequence: 1, time: time, width: 2, height: 2, encodeNanos: 0) }
        let part = MJPEGPart.buffers(frame).flatMap { Array($0.readableBytesView) }
        let text = String(decoding: part, as: UTF8.self)
        #expect(text.hasPrefix("--\(MJPEGPart.boundary)\r\nContent-Type: image/jpeg\r\nContent-Length: 7\r\nX-Timestamp: 1764000000.500000\r\n\r\n"))
        #expect(Array(part.suffix(9)) == jpeg + [13, 10])
    }
}
