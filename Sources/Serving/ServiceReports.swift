import ServiceSettings
import Telemetry

/// Where the optional services' states come from for `/api/status` and `/metrics` (nil: the service is not configured).
public struct ServiceReports: Sendable {
    /// The MQTT connection.
    public var mqtt: (@Sendable () -> MQTTStatus)?
    /// The RTSP server and pushes.
    public var rtsp: (@Sendable () -> RTSPStatus)?
    /// The GPS receiver through gpsd.
    public var gps: (@Sendable () -> GPSStatus)?
    /// The accelerometer.
    public var gsensor: (@Sendable () -> GSensorStatus)?
    /// The ignition and button lines, and parking.
    public var gpio: (@Sendable () -> GPIOStatus)?

    /// Reports of the given services.
    public init(mqtt: (@Sendable () -> MQTTStatus)? = nil, rtsp: (@Sendable () -> RTSPStatus)? = nil, gps: (@Sendable () -> GPSStatus)? = nil,
                gsensor: (@Sendable () -> GSensorStatus)? = nil, gpio: (@Sendable () -> GPIOStatus)? = nil) {
        self.mqtt = mqtt
        self.rtsp = rtsp
        self.gps = gps
        self.gsensor = gsensor
        self.gpio = gpio
    }
}
