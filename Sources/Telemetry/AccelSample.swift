import Foundation

/// One accelerometer reading in the sensor's axes, m/s² (gravity included), and when it was taken on the cameras'
/// capture clock (what places it beside the pictures).
public struct AccelSample: Sendable, Equatable {
    /// Capture clock (CLOCK_MONOTONIC) of the reading.
    public var monotonicNanos: UInt64
    /// Acceleration along the sensor's x, y and z axes, m/s².
    public var x: Double
    public var y: Double
    public var z: Double

    /// Standard gravity, m/s² per g.
    public static let standardGravity = 9.80665
    /// The CAMM record type of an acceleration reading.
    public static let cammType: UInt16 = 3
    /// Bytes of a CAMM type 3 record.
    public static let cammRecordSize = 16

    /// A reading of (x, y, z) m/s² at `monotonicNanos`.
    public init(monotonicNanos: UInt64, x: Double, y: Double, z: Double) {
        self.monotonicNanos = monotonicNanos
        self.x = x
        self.y = y
        self.z = z
    }

    /// The reading as a Google Camera Motion Metadata record of type 3 (acceleration: three little-endian float32 m/s²).
    public var cammRecord: [UInt8] {
        var out: [UInt8] = [0, 0, UInt8(Self.cammType), 0]
        out.reserveCapacity(Self.cammRecordSize)
        for v in [x, y, z] {
            let bits = Float(v).bitPattern
            for shift in stride(from: 0, through: 24, by: 8) { out.append(UInt8((bits >> UInt32(shift)) & 0xFF)) }
        }
        return out
    }

    /// The reading a CAMM type 3 record states (nil for another type or a short record).
    public init?(cammRecord b: ArraySlice<UInt8>, monotonicNanos: UInt64) {
        guard b.count >= Self.cammRecordSize else { return nil }
        let s = b.startIndex
        guard b[s + 2] == UInt8(Self.cammType), b[s + 3] == 0 else { return nil }
        func f32(_ i: Int) -> Double {
            Double(Float(bitPattern: (0..<4).reduce(UInt32(0)) { $0 | UInt32(b[s + i + $1]) << UInt32(8 * $1) }))
        }
        self.init(monotonicNanos: monotonicNanos, x: f32(4), y: f32(8), z: f32(12))
    }
}
