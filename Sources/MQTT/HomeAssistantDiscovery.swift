import Foundation
import ServiceSettings
import Telemetry

/// The topics of one recorder and the Home Assistant discovery messages that describe its cameras:
/// per camera a motion `binary_sensor`, an `image` (snapshot at motion), a `button` (save an event clip),
/// a recording `switch`, a record-mode `select`, a mute `switch` for a camera with sound and `sensor`s (fps, disk used, temperature);
/// with a GPS, the recorder itself is a `device_tracker` with a speed `sensor`; with an accelerometer, an impact `binary_sensor`.
public struct HomeAssistantDiscovery: Sendable {
    /// `blackbox/<node>`.
    public let base: String
    /// Online / offline, retained; the will says offline.
    public var availability: String { "\(base)/status" }
    /// Disk and temperature, JSON.
    public var nodeState: String { "\(base)/state" }
    /// Position, speed and fix state, JSON, retained: the device tracker's attributes and the speed sensor's state.
    public var gps: String { "\(base)/gps" }
    /// ON / OFF with the newest impact's size and time, JSON, retained: the impact binary sensor's state and attributes.
    public var impact: String { "\(base)/impact" }
    /// ON while parked (the ignition off) / OFF, with the time it began, JSON, retained: the parked binary sensor's state.
    public var parked: String { "\(base)/parked" }
    private let settings: MQTTSettings
    private let version: String

    /// Topics under `settings.topicPrefix/settings.nodeID`.
    public init(settings: MQTTSettings, version: String) {
        self.settings = settings
        self.version = version
        base = "\(settings.topicPrefix)/\(settings.nodeID)"
    }

    /// The topics of camera `id`.
    public struct CameraTopics: Sendable {
        /// ON / OFF, retained.
        public let motion: String
        /// The JPEG taken when motion starts, retained.
        public let snapshot: String
        /// Any payload saves an event clip.
        public let event: String
        /// ON / OFF (recording in the mode chosen, or off), retained.
        public let recording: String
        /// ON / OFF commands.
        public let recordingSet: String
        /// continuous / motion / off, retained.
        public let mode: String
        /// A mode as a command.
        public let modeSet: String
        /// ON / OFF (sound muted), retained; only for a camera with sound.
        public let muted: String
        /// ON / OFF commands.
        public let mutedSet: String
        /// fps and drops, JSON.
        public let state: String
    }

    /// The topics of camera `id`.
    public func topics(camera id: String) -> CameraTopics {
        let c = "\(base)/\(id)"
        return CameraTopics(motion: "\(c)/motion", snapshot: "\(c)/snapshot", event: "\(c)/event/press", recording: "\(c)/recording",
                            recordingSet: "\(c)/recording/set", mode: "\(c)/mode", modeSet: "\(c)/mode/set", muted: "\(c)/muted",
                            mutedSet: "\(c)/muted/set", state: "\(c)/state")
    }

    /// Discovery messages for camera `id` (topic → JSON config, published retained); `modes` are the select's options;
    /// with `sound`, a mute switch.
    public func messages(camera id: String, modes: [String], sound: Bool = false) -> [(topic: String, payload: String)] {
        let t = topics(camera: id)
        let object = "\(settings.nodeID)_\(MQTTSettings.sanitised(id))"
        let config = entity(object: object, deviceName: "Blackbox \(settings.nodeID) \(id)")
        var out = [
            config("binary_sensor", "motion", "Motion", ["state_topic": t.motion, "device_class": "motion", "payload_on": "ON", "payload_off": "OFF"]),
            config("image", "snapshot", "Snapshot", ["image_topic": t.snapshot, "content_type": "image/jpeg"]),
            config("button", "event", "Save event clip", ["command_topic": t.event, "payload_press": "PRESS"]),
            config("sensor", "fps", "Frame rate", ["state_topic": t.state, "value_template": "{{ value_json.fps }}", "unit_of_measurement": "fps",
                                                   "state_class": "measurement"]),
            config("sensor", "disk", "Disk used", ["state_topic": nodeState, "value_template": "{{ value_json.disk_used_percent }}",
                                                   "unit_of_measurement": "%", "state_class": "measurement", "icon": "mdi:harddisk"]),
            config("sensor", "temperature", "Temperature", ["state_topic": nodeState, "value_template": "{{ value_json.temperature }}",
                                                            "unit_of_measurement": "°C", "device_class": "temperature", "state_class": "measurement"]),
        ]
        if !modes.isEmpty {
            out.append(config("switch", "recording", "Recording", ["command_topic": t.recordingSet, "state_topic": t.recording,
                                                                   "payload_on": "ON", "payload_off": "OFF"]))
            out.append(config("select", "mode", "Record mode", ["command_topic": t.modeSet, "state_topic": t.mode, "options": modes]))
        }
        if sound {
            out.append(config("switch", "muted", "Sound muted", ["command_topic": t.mutedSet, "state_topic": t.muted, "payload_on": "ON",
                                                                 "payload_off": "OFF", "icon": "mdi:microphone-off"]))
        }
        return out
    }

    /// Discovery messages of the recorder's GPS: a `device_tracker` whose attributes (latitude, longitude, gps_accuracy)
    /// place it on Home Assistant's map, and a speed `sensor` in `units`.
    public func gpsMessages(units: SpeedUnit) -> [(topic: String, payload: String)] {
        let config = entity(object: settings.nodeID, deviceName: "Blackbox \(settings.nodeID)")
        return [
            config("device_tracker", "position", "Position", ["json_attributes_topic": gps, "source_type": "gps", "icon": "mdi:car"]),
            config("sensor", "speed", "Speed", ["state_topic": gps, "value_template": "{{ value_json.speed }}", "unit_of_measurement": units.symbol,
                                                "device_class": "speed", "state_class": "measurement"]),
        ]
    }

    /// Discovery message of the recorder's accelerometer: an **Impact** `binary_sensor` (device class vibration), on for
    /// a while after each impact, its size and time as attributes.
    public func impactMessage() -> (topic: String, payload: String) {
        entity(object: settings.nodeID, deviceName: "Blackbox \(settings.nodeID)")(
            "binary_sensor", "impact", "Impact", ["state_topic": impact, "value_template": "{{ value_json.state }}", "payload_on": "ON",
                                                  "payload_off": "OFF", "device_class": "vibration", "json_attributes_topic": impact])
    }

    /// Discovery message of the ignition line: a **Parked** `binary_sensor`, on while the ignition is off.
    public func parkedMessage() -> (topic: String, payload: String) {
        entity(object: settings.nodeID, deviceName: "Blackbox \(settings.nodeID)")(
            "binary_sensor", "parked", "Parked", ["state_topic": parked, "value_template": "{{ value_json.state }}", "payload_on": "ON",
                                                  "payload_off": "OFF", "icon": "mdi:car-brake-parking", "json_attributes_topic": parked])
    }

    /// Makes the discovery message of one entity of device `object`: (component, key, name, its own fields) → (topic, JSON).
    private func entity(object: String, deviceName: String) -> (String, String, String, [String: Any]) -> (topic: String, payload: String) {
        let device: [String: Any] = [
            "identifiers": ["blackbox_\(object)"], "name": deviceName, "manufacturer": "Blackbox",
            "model": "Blackbox camera recorder", "sw_version": version,
        ]
        let prefix = settings.discoveryPrefix, availability = availability
        return { component, key, name, extra in
            var body: [String: Any] = [
                "name": name, "unique_id": "blackbox_\(object)_\(key)", "object_id": "blackbox_\(object)_\(key)",
                "availability_topic": availability, "payload_available": "online", "payload_not_available": "offline", "device": device,
            ]
            body.merge(extra) { $1 }
            let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()
            return ("\(prefix)/\(component)/\(object)_\(key)/config", String(decoding: data, as: UTF8.self))
        }
    }
}
