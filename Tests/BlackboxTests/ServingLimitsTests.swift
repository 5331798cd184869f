import Encoding
import Foundation
import Frames
import NIOCore
import NIOEmbedded
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

    /// A connected embedded channel, open until the registry closes it.
    private func connected() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    @Test("a burst from one address displaces only its connections older than the grace, never a new one whose request may be unread")
    func burstSparesYoungConnections() throws {
        var limits = ConnectionLimits()
        limits.maxConnections = 100
        limits.maxWaitingPerClient = 4
        limits.waitingGrace = .seconds(1)
        let registry = ConnectionRegistry(limits: limits)
        let second: UInt64 = 1_000_000_000
        let old = try (0..<4).map { _ in try connected() }
        for channel in old { #expect(registry.admit(channel, client: "a", now: 10 * second)) }
        // A health check arrives, then a burst of ten from the same address within a few milliseconds.
        let check = try connected()
        #expect(registry.admit(check, client: "a", now: 20 * second))
        let burst = try (0..<10).map { _ in try connected() }
        for (i, channel) in burst.enumerated() {
            #expect(registry.admit(channel, client: "a", now: 20 * second + UInt64(i + 1) * 1_000_000))
        }
        // The four old ones made room; the check and the burst are all open, past the address's cap.
        #expect(old.allSatisfy { !$0.isActive })
        #expect(check.isActive && burst.allSatisfy(\.isActive))
        #expect(registry.evicted.load(ordering: .relaxed) == 4 && registry.count == 11)
        // Once past its grace the check is the oldest waiting and the next newcomer displaces it.
        let later = try connected()
        #expect(registry.admit(later, client: "a", now: 21 * second + 500_000))
        #expect(!check.isActive && later.isActive)
        // Another address is held only by the total cap: when it is full the oldest waiting of anyone goes.
        #expect(registry.admit(try connected(), client: "b", now: 22 * second))
    }

    @Test("the total cap displaces the oldest waiting connection, young or not, and refuses when all are busy")
    func totalCap() throws {
        var limits = ConnectionLimits()
        limits.maxConnections = 3
        limits.maxWaitingPerClient = 3
        let registry = ConnectionRegistry(limits: limits)
        let channels = try (0..<3).map { _ in try connected() }
        for (i, channel) in channels.enumerated() { #expect(registry.admit(channel, client: "a", now: UInt64(i))) }
        #expect(registry.admit(try connected(), client: "b", now: 10))
        #expect(!channels[0].isActive && channels[1].isActive)
        for channel in channels.dropFirst() { registry.setWaiting(channel, false, now: 11) }
        let fourth = try connected()
        #expect(registry.admit(fourth, client: "b", now: 12))  // the only waiting one ("b"'s first) is displaced
        #expect(registry.evicted.load(ordering: .relaxed) == 2)
        registry.setWaiting(fourth, false, now: 13)
        let fifth = try connected()
        #expect(!registry.admit(fifth, client: "c", now: 14))  // every open one is busy: refused
        #expect(registry.refused.load(ordering: .relaxed) == 1)
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
