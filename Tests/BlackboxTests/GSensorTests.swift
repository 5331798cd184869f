import Foundation
@testable import IIO
import Rules
import Telemetry
import Testing

@Suite("Accelerometer")
struct GSensorTests {
    /// 100 Hz readings of gravity at `tilt` degrees (leaning back about x), plus `extra` g along x at each second, with
    /// noise of `noise` g.
    static func readings(seconds: Double, tilt: Double = 30, noise: Double = 0.02, extra: (Double) -> Double = { _ in 0 }) -> [AccelSample] {
        var rng = SystemRandomNumberGenerator()
        let g = AccelSample.standardGravity, r = tilt * .pi / 180
        return (0..<Int(seconds * 100)).map { i in
            let t = Double(i) / 100
            func jitter() -> Double { Double.random(in: -noise...noise, using: &rng) }
            return AccelSample(monotonicNanos: UInt64(t * 1e9) + 1_000_000_000, x: (extra(t) + jitter()) * g, y: (sin(r) + jitter()) * g,
                               z: (cos(r) + jitter()) * g)
        }
    }

    static func impacts(_ readings: [AccelSample], threshold: Double = 1.5) -> [Impact] {
        var detector = ImpactDetector(thresholdG: threshold)
        return readings.compactMap { detector.feed($0) }
    }

    @Test("gravity at the mounting angle is learned from the first half second; nothing is found before")
    func gravityLearned() throws {
        var detector = ImpactDetector(thresholdG: 1.5)
        let first = Self.readings(seconds: 0.49, noise: 0)
        for r in first { #expect(detector.feed(r) == nil) }
        #expect(!detector.learned)
        for r in Self.readings(seconds: 0.2, noise: 0) { _ = detector.feed(AccelSample(monotonicNanos: r.monotonicNanos + 490_000_000, x: r.x, y: r.y, z: r.z)) }
        let g = try #require(detector.gravity)
        #expect(abs(g.y / AccelSample.standardGravity - 0.5) < 0.01 && abs(g.z / AccelSample.standardGravity - cos(.pi / 6)) < 0.01)
    }

    @Test("noise, braking at 0.4 g and a long turn at 0.5 g are no impact, at any mounting angle")
    func noImpacts() {
        for tilt in [0.0, 30, 90] {
            let drive = Self.readings(seconds: 20, tilt: tilt, noise: 0.05) { t in (4..<6).contains(t) ? -0.4 : (10..<16).contains(t) ? 0.5 : 0 }
            #expect(Self.impacts(drive).isEmpty, "tilt \(tilt)")
        }
    }

    @Test("a 3 g knock is one impact at its peak, its size within 0.1 g; two knocks apart are two")
    func knock() throws {
        let one = Self.readings(seconds: 10) { t in (5..<5.05).contains(t) ? (t < 5.02 ? 2 : 3) : 0 }
        let found = Self.impacts(one)
        #expect(found.count == 1)
        let impact = try #require(found.first)
        #expect(abs(impact.g - 3) < 0.1)
        // At the 3 g part of the knock (which of its three readings is largest is up to the noise).
        #expect((5.015...5.045).contains(Double(impact.monotonicNanos) / 1e9 - 1))
        let two = Self.readings(seconds: 10) { t in (3..<3.03).contains(t) || (7..<7.03).contains(t) ? 2.5 : 0 }
        #expect(Self.impacts(two).count == 2)
        // Below the threshold it is not one.
        #expect(Self.impacts(one, threshold: 3.5).isEmpty)
    }

    @Test("a sensor knocked to another angle is learned again instead of being an impact for ever")
    func remounted() {
        // From 5 s on gravity is along x (the mount fell over): at most a few impacts, then none.
        let fallen = Self.readings(seconds: 20) { t in t >= 5 ? 1 : 0 }.map { r -> AccelSample in
            guard Double(r.monotonicNanos) / 1e9 - 1 >= 5 else { return r }
            return AccelSample(monotonicNanos: r.monotonicNanos, x: r.x, y: r.y - 0.5 * AccelSample.standardGravity,
                               z: r.z - cos(.pi / 6) * AccelSample.standardGravity)
        }
        let found = Self.impacts(fallen, threshold: 1.0)
        #expect(found.count <= 3)
        #expect(found.allSatisfy { Double($0.monotonicNanos) / 1e9 - 1 < 9 })
    }

    @Test("a reading survives its CAMM type 3 record; other types are not readings")
    func camm() throws {
        let sample = AccelSample(monotonicNanos: 7, x: 1.5, y: -9.80665, z: 29.4)
        let record = sample.cammRecord
        #expect(record.count == AccelSample.cammRecordSize && record[0...3] == [0, 0, 3, 0])
        let back = try #require(AccelSample(cammRecord: record[...], monotonicNanos: 7))
        #expect(abs(back.x - 1.5) < 1e-6 && abs(back.y + 9.80665) < 1e-5 && abs(back.z - 29.4) < 1e-5)
        #expect(AccelSample(cammRecord: GPSFix(monotonicNanos: 0, mode: .none).cammRecord[...], monotonicNanos: 0) == nil)
        #expect(GPSFix(cammRecord: record[...], monotonicNanos: 0) == nil)
    }

    @Test("an IIO scan is laid out as the kernel's ABI says: aligned channels, masked, shifted and sign-extended values")
    func scanLayout() throws {
        // hid-sensor-accel-3d: three s16 in 32-bit storage, then a 64-bit timestamp (24 bytes with padding).
        let channels = try ["in_accel_x": (0, "le:s16/32>>0"), "in_accel_y": (1, "le:s16/32>>0"), "in_accel_z": (2, "le:s16/32>>0"),
                            "in_timestamp": (3, "le:s64/64>>0")].map { try #require(ScanLayout.channel(name: $0.key, index: $0.value.0, type: $0.value.1)) }
        let layout = ScanLayout(channels)
        #expect(layout.size == 24 && layout.channels.map(\.offset) == [0, 4, 8, 16])
        var scan: [UInt8] = [0x9C, 0xFF, 0xAA, 0xBB, 0x64, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0, 0, 0, 0]
        scan += withUnsafeBytes(of: Int64(123_456_789).littleEndian, Array.init)
        #expect(layout.channels.map { layout.value($0, in: scan, at: 0) } == [-100, 100, -32768, 123_456_789])
        // A 12-bit big-endian value shifted by 4 (as ADXL345-style drivers say be:s12/16>>4).
        let adxl = try #require(ScanLayout.channel(name: "in_accel_x", index: 0, type: "be:s12/16>>4"))
        let one = ScanLayout([adxl])
        #expect(one.size == 2 && one.value(one.channels[0], in: [0xFF, 0xF0], at: 0) == -1 && one.value(one.channels[0], in: [0x01, 0x00], at: 0) == 16)
        for bad in ["", "le:s16", "xe:s16/32>>0", "le:f16/32>>0", "le:s40/32>>0", "le:s16/24>>0"] {
            #expect(ScanLayout.channel(name: "x", index: 0, type: bad) == nil, "\(bad)")
        }
    }

    @Test("a device is named by name or iio:deviceN; anything that could leave /sys is refused with what is allowed")
    func deviceNames() throws {
        #expect(try GSensorSettings(device: "mpu6050", name: "device").device == "mpu6050")
        #expect(try GSensorSettings(device: "iio:device0", name: "device").thresholdG == 1.5)
        for bad in ["", "../../etc", "a/b", ".hidden", "two words", String(repeating: "x", count: 65)] {
            #expect(throws: RuleError(name: "device", text: bad, allowed: GSensorSettings.deviceAllowed)) { try GSensorSettings(device: bad, name: "device") }
        }
    }
}
