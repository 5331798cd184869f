import Cameras
import Foundation
import Frames
import Platform
import Logging
import Recording
import Rules
import ServiceSettings
import Synchronization
import Telemetry

/// Carries a recorder's events to MQTT and its commands back: motion on/off with a snapshot, sensors every
/// `stateIntervalSeconds`, Home Assistant discovery at every connection; the button, switch and select
/// topics do what the matching HTTP API does (the broker authenticates who may publish them). With a GPS, its position
/// and speed are published every `telemetryIntervalSeconds` while they change; with an accelerometer, an impact turns
/// its binary sensor on for `impactOnSeconds`.
/// Runs on its own thread behind a bounded queue: cameras only offer to it.
public final class MQTTBridge: Sendable {
    private enum Work: Sendable {
        case connected
        case motion(Int, Bool)
        case command(String, [UInt8])
    }

    private let cameras: [Camera]
    private let settings: MQTTSettings
    private let discovery: HomeAssistantDiscovery
    private let client: MQTTClient
    private let queue = BoundedQueue<Work>(capacity: 256)
    private let stopped = Atomic<Bool>(false)
    private let thread = Worker()
    private let disk: @Sendable () -> DiskUsage?
    private let onModeChange: @Sendable () -> Void
    private let gps: (@Sendable () -> GPSStatus)?
    private let gsensor: (@Sendable () -> GSensorStatus)?
    private let gpio: (@Sendable () -> GPIOStatus)?
    private let logger: Logger
    private let load = SystemLoad()
    /// How often the GPS topic is looked at: a car moves about 30 m in that time at 50 km/h.
    static let telemetryIntervalSeconds = 2.0
    /// How long an impact's binary sensor stays on.
    static let impactOnSeconds = 10.0

    /// A bridge for `cameras`; `disk` gives the recordings disk's usage, `gps` the receiver's status (nil: no GPS),
    /// `gsensor` the accelerometer's (nil: none), `gpio` the ignition's and button's (nil: none),
    /// `onModeChange` keeps a mode or a mute chosen over MQTT across restarts.
    public init(settings: MQTTSettings, cameras: [Camera], version: String, disk: @escaping @Sendable () -> DiskUsage?,
                gps: (@Sendable () -> GPSStatus)? = nil, gsensor: (@Sendable () -> GSensorStatus)? = nil,
                gpio: (@Sendable () -> GPIOStatus)? = nil, onModeChange: @escaping @Sendable () -> Void, logger: Logger) throws(MQTTError) {
        self.settings = settings
        self.cameras = cameras
        self.disk = disk
        self.gps = gps
        self.gsensor = gsensor
        self.gpio = gpio
        self.onModeChange = onModeChange
        self.logger = logger
        let discovery = HomeAssistantDiscovery(settings: settings, version: version)
        self.discovery = discovery
        let queue = self.queue
        client = try MQTTClient(settings: settings, clientID: "blackbox-\(settings.nodeID)", will: (discovery.availability, "offline"),
                                onConnect: { _ = queue.offer(.connected) },
                                onMessage: { topic, payload in _ = queue.offer(.command(topic, payload)) })
        for (i, camera) in cameras.enumerated() {
            camera.motionEvents.add { active in _ = queue.offer(.motion(i, active)) }
        }
    }

    /// Connects (in the background, retrying with backoff) and starts the bridge's thread.
    public func start() throws(MQTTError) {
        thread.start(name: "mqtt") { [self] in run() }
        try client.start()
        logger.info("MQTT: connecting", metadata: ["url": "\(settings.url)", "topics": "\(discovery.base)/#"])
    }

    /// Connection state and counters.
    public func status() -> MQTTStatus {
        client.status()
    }

    /// Publishes offline, disconnects and stops the thread.
    public func stop() {
        stopped.store(true, ordering: .releasing)
        queue.close()
        thread.stop()
        client.stop(lastWords: (discovery.availability, "offline"))
    }

    private func run() {
        var motion = [Bool](repeating: false, count: cameras.count)
        let interval = UInt64(settings.stateIntervalSeconds * 1e9)
        let telemetryInterval = UInt64(Self.telemetryIntervalSeconds * 1e9)
        var nextState = MonotonicClock.nanos() + interval
        var nextTelemetry = gps == nil && gsensor == nil && gpio == nil ? UInt64.max : MonotonicClock.nanos() + telemetryInterval
        // What was last published on the GPS and impact topics: a parked car's unchanged position is not sent again.
        var gpsPublished: String?
        var impactPublished: String?
        var parkedPublished: String?
        while !stopped.load(ordering: .acquiring) {
            let now = MonotonicClock.nanos()
            if now >= nextState {
                publishStates()
                nextState = now + interval
            }
            if now >= nextTelemetry {
                if let gps {
                    let payload = Self.gpsPayload(gps())
                    if payload != gpsPublished, client.publish(discovery.gps, payload, retain: true) { gpsPublished = payload }
                }
                if let gsensor {
                    let payload = Self.impactPayload(gsensor(), now: Date().timeIntervalSince1970)
                    if payload != impactPublished, client.publish(discovery.impact, payload, retain: true) { impactPublished = payload }
                }
                if let status = gpio?(), status.ignition != nil {
                    let payload = Self.parkedPayload(status)
                    if payload != parkedPublished, client.publish(discovery.parked, payload, retain: true, qos: 1) { parkedPublished = payload }
                }
                nextTelemetry = now + telemetryInterval
            }
            let wake = min(nextState, nextTelemetry)
            guard let work = queue.take(timeoutNanos: wake - min(wake, now)) else { continue }
            switch work {
            case .connected:
                announce()
                gpsPublished = nil
                impactPublished = nil
                parkedPublished = nil
                for (i, on) in motion.enumerated() { client.publish(discovery.topics(camera: cameras[i].config.id).motion, on ? "ON" : "OFF", retain: true) }
            case .motion(let i, let active):
                guard motion[i] != active else { continue }
                motion[i] = active
                let topics = discovery.topics(camera: cameras[i].config.id)
                client.publish(topics.motion, active ? "ON" : "OFF", retain: true, qos: 1)
                if active, let jpeg = snapshot(cameras[i]) { client.publish(topics.snapshot, jpeg, retain: true) }
            case .command(let topic, let payload):
                command(topic, String(decoding: payload.prefix(64), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
            }
        }
    }

    /// Discovery, availability and current states, and the command subscriptions (at every connection).
    private func announce() {
        for camera in cameras {
            let modes = camera.recorder == nil ? [] : RecordingMode.allCases.map(\.rawValue)
            for message in discovery.messages(camera: camera.config.id, modes: modes, sound: camera.sound != nil) {
                client.publish(message.topic, message.payload, retain: true, qos: 1)
            }
            let topics = discovery.topics(camera: camera.config.id)
            for pattern in [topics.event, topics.recordingSet, topics.modeSet, topics.mutedSet] { client.subscribe(pattern) }
        }
        if let status = gps?() {
            for message in discovery.gpsMessages(units: status.units) { client.publish(message.topic, message.payload, retain: true, qos: 1) }
        }
        if gsensor != nil {
            let message = discovery.impactMessage()
            client.publish(message.topic, message.payload, retain: true, qos: 1)
        }
        if gpio?().ignition != nil {
            let message = discovery.parkedMessage()
            client.publish(message.topic, message.payload, retain: true, qos: 1)
        }
        client.publish(discovery.availability, "online", retain: true, qos: 1)
        publishStates()
        logger.info("MQTT: connected; Home Assistant discovery published", metadata: ["url": "\(settings.url)", "cameras": "\(cameras.count)"])
    }

    private func publishStates() {
        let usage = disk()
        var node: [String: Any] = [:]
        if let usage, usage.totalBytes > 0 {
            node["disk_used_percent"] = (Double(usage.totalBytes - usage.freeBytes) / Double(usage.totalBytes) * 1000).rounded() / 10
            node["recordings_bytes"] = usage.usedBytes
            node["free_bytes"] = usage.freeBytes
        }
        node["temperature"] = load.temperature().map { ($0 * 10).rounded() / 10 } ?? NSNull()
        client.publish(discovery.nodeState, Self.json(node), retain: true)
        for camera in cameras {
            let s = camera.status()
            let topics = discovery.topics(camera: camera.config.id)
            client.publish(topics.state, Self.json(["fps": s.measuredFps, "dropped": s.framesDropped, "state": s.state]), retain: true)
            if let mode = camera.recordMode {
                client.publish(topics.recording, mode == .off ? "OFF" : "ON", retain: true)
                client.publish(topics.mode, mode.rawValue, retain: true)
            }
            if let audio = s.audio { client.publish(topics.muted, audio.muted ? "ON" : "OFF", retain: true) }
        }
    }

    /// Runs a command: the same camera calls as `POST /api/events`, `/api/recording/start|stop` and the settings' `mode`.
    private func command(_ topic: String, _ payload: String) {
        guard let camera = cameras.first(where: { topic.hasPrefix("\(discovery.base)/\($0.config.id)/") }) else { return }
        let topics = discovery.topics(camera: camera.config.id)
        switch topic {
        case topics.event:
            guard let ticket = camera.recorder?.triggerEvent(reason: "mqtt", manual: true) else { return }
            logger.info("MQTT: event clip requested", metadata: ["camera": "\(camera.config.id)", "file": "\(ticket.file)"])
        case topics.recordingSet where payload == "ON" || payload == "OFF":
            camera.setRecording(payload == "ON")
        case topics.mutedSet where camera.sound != nil && (payload == "ON" || payload == "OFF"):
            camera.setAudioMuted(payload == "ON")
            onModeChange()
        case topics.modeSet:
            guard let mode = RecordingMode(rawValue: payload) else {
                logger.warning("MQTT: unknown record mode ignored", metadata: ["topic": "\(topic)", "payload": "\(payload)",
                                                                              "allowed": "\(RecordingMode.allowed)"])
                return
            }
            camera.setRecordMode(mode)
            onModeChange()
        default:
            logger.warning("MQTT: command ignored", metadata: ["topic": "\(topic)", "payload": "\(payload)", "allowed": "ON or OFF"])
            return
        }
        publishStates()
    }

    /// The next JPEG of `camera` (made on demand when it records H.264), waiting up to 2 s.
    private func snapshot(_ camera: Camera) -> [UInt8]? {
        let subscription = camera.bus.subscribe(capacity: 1)
        defer { subscription.cancel() }
        camera.jpegDemand.request()
        guard let frame = subscription.next(timeoutNanos: 2_000_000_000) else { return nil }
        return Array(frame.bytes.readableBytesView)
    }

    /// The GPS topic's JSON: the fix state, and with a fix where (with gps_accuracy, as Home Assistant's map wants),
    /// how fast in the status's units and which way; `speed` is null without a fix, which Home Assistant shows as unknown.
    static func gpsPayload(_ status: GPSStatus) -> String {
        var body: [String: Any] = ["state": status.state.rawValue, "speed": NSNull()]
        if status.state == .fix, let fix = status.last, fix.hasPosition, let latitude = fix.latitude, let longitude = fix.longitude {
            body["latitude"] = latitude
            body["longitude"] = longitude
            body["gps_accuracy"] = fix.horizontalError ?? 0
            if let altitude = fix.altitude { body["altitude"] = altitude }
            if let heading = fix.heading { body["heading"] = (heading * 10).rounded() / 10 }
            if let speed = status.speed { body["speed"] = (speed * 10).rounded() / 10 }
            if let used = status.satellitesUsed { body["satellites"] = used }
        }
        return json(body)
    }

    /// The parked topic's JSON: ON while parked with the time it began, OFF while driving, unknown while the ignition
    /// line cannot be read.
    static func parkedPayload(_ status: GPIOStatus) -> String {
        var body: [String: Any] = ["state": status.ignitionState == .unknown ? "unknown" : status.parked ? "ON" : "OFF", "presses": status.presses]
        if let since = status.parkedSince { body["since"] = since }
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// The impact topic's JSON: ON while the newest impact is under `impactOnSeconds` old (at `now`, Unix seconds), with
    /// its size, its time and how many there were.
    static func impactPayload(_ status: GSensorStatus, now: Double) -> String {
        var body: [String: Any] = ["impacts": status.impacts, "state": "OFF"]
        if let at = status.lastImpactAt, let g = status.lastImpactG {
            body["g"] = g
            body["at"] = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: at))
            if now - at < impactOnSeconds { body["state"] = "ON" }
        }
        return json(body)
    }

    private static func json(_ object: [String: Any]) -> String {
        String(decoding: (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data(), as: UTF8.self)
    }
}
