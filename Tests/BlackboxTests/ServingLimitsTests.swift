import Foundation
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
        #expect(asked.fitting(descriptorLimit: 1024).maxConnections == 1024 - ConnectionLimits.descriptorReserve)
        #expect(ConnectionLimits().fitting(descriptorLimit: 65536).maxConnections == 512)
        #expect(ConnectionLimits().fitting(descriptorLimit: 100).maxConnections == 1)
    }
}
