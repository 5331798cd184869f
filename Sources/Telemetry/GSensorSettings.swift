import Rules

/// `[gsensor]`: the accelerometer (a Linux IIO device) whose impacts save protected event clips. Off unless configured.
public struct GSensorSettings: Sendable, Equatable {
    /// The IIO device: its name (`mpu6050`, `lis3dh`, `accel_3d`) or `iio:deviceN`.
    public var device: String
    /// The change from gravity that is an impact, g.
    public var thresholdG = 1.5
    /// The same while parked: lower, as a knock on a parked car is smaller than a pothole at speed.
    public var parkingThresholdG = 1.2

    /// How a device is named.
    public static let deviceAllowed = "an IIO device's name (e.g. mpu6050, lis3dh, accel_3d) or iio:deviceN"
    /// The thresholds allowed (both of them).
    public static let thresholdRule = RangeRule<Double>(0.3...16, allowed: "0.3 to 16 g")

    /// Settings for `device`, or an error naming `name` and what is allowed.
    public init(device: String, name: String) throws(RuleError) {
        guard !device.isEmpty, device.count <= 64, !device.contains("/"), !device.hasPrefix("."),
              device.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7F }) else {
            throw RuleError(name: name, text: device, allowed: Self.deviceAllowed)
        }
        self.device = device
    }
}
