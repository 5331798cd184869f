import Analysis
import Cameras
import Encoding
import Capture
import Foundation
import Frames
import Recording
import Rules
import Telemetry
import ServiceSettings
import TOMLKit

/// Everything `/etc/blackbox/blackbox.toml` can set; nil where the file is silent (flags and
/// built-in defaults fill those in).
public struct ConfigFile: Sendable, Equatable {
    /// `[server]`.
    public var host: String?
    public var port: Int?
    public var publicLive: Bool?
    public var maxConnections: Int?
    public var trustedProxies: [String]?
    /// `[auth]`.
    public var authUser: String?
    public var passwordHash: String?
    /// `[auth] digest_ha1`: for RTSP Digest.
    public var digestHA1: String?
    public var authFile: String?
    /// `[log]`.
    public var logLevel: String?
    /// `[capture]`: defaults for every camera.
    public var size: String?
    public var quality: Int?
    public var workers: Int?
    public var overlay: Bool?
    /// `[capture]` rotation, hflip, vflip: how every camera is mounted unless its `[[camera]]` says.
    public var rotation: Int?
    public var hflip: Bool?
    public var vflip: Bool?
    public var format: CaptureFormat?
    public var buffers: Int?
    public var h264Fallback: Bool?
    /// `[recording]`.
    public var recordings: String?
    public var record: Bool?
    public var segmentSeconds: Double?
    public var fragmentSeconds: Double?
    public var fsync: SyncPolicy?
    public var quota: Quota?
    /// Bytes.
    public var minFree: Int?
    public var eventPre: Double?
    public var eventPost: Double?
    public var eventQuota: Double?
    public var eventMax: Double?
    /// `[recording] mode`.
    public var recordMode: RecordingMode?
    /// `[motion]`: the motion detector of every camera.
    public var motion: MotionSettings?
    /// `[hooks]`: commands run for finished recordings.
    public var hooks: HookSettings?
    /// `[mqtt]`: the broker events go to.
    public var mqtt: MQTTSettings?
    /// `[gps]`: the gpsd the fixes come from (nil: no GPS).
    public var gps: GPSSettings?
    /// `[gsensor]`: the accelerometer (nil: none).
    public var gsensor: GSensorSettings?
    /// `[gpio]`: the ignition and button lines (nil: none).
    public var gpio: GPIOSettings?
    /// `[rtsp]` with the cameras' `rtsp_path`s (checked against the cameras when the daemon starts).
    public var rtsp: RTSPSettings?
    /// `[recording] codec`.
    public var codec: VideoCodec?
    /// `[[camera]]` tables, typed, in the file's order.
    public var cameras: [CameraTable] = []

    /// An empty file.
    public init() {}
}

/// A rejected configuration file: where, which key, which value, and what is allowed.
public struct ConfigFileError: Error, CustomStringConvertible, Equatable {
    /// `FILE:LINE: [table] key = value: problem; allowed: …`.
    public let description: String
}

/// Reads and checks the TOML configuration file.
public enum ConfigLoader {
    /// The default location.
    public static let defaultPath = "/etc/blackbox/blackbox.toml"

    /// Reads `path`; nil when it is the default path and does not exist (then the daemon runs on flags and defaults).
    public static func load(path: String, required: Bool) throws(ConfigFileError) -> ConfigFile? {
        guard let data = FileManager.default.contents(atPath: path) else {
            if !required && !FileManager.default.fileExists(atPath: path) { return nil }
            throw ConfigFileError(description: "\(path): cannot read the configuration file")
        }
        return try parse(String(decoding: data, as: UTF8.self), file: path)
    }

    // The schema: table → key → expected type.
    private enum Kind: String { case string, int, number, bool, stringList = "list of strings", table, tables }
    private static let schema: [String: [String: Kind]] = [
        "server": ["host": .string, "port": .int, "public_live": .bool, "max_connections": .int, "trusted_proxies": .stringList],
        "auth": ["user": .string, "password_hash": .string, "digest_ha1": .string, "file": .string],
        "log": ["level": .string],
        "capture": ["size": .string, "quality": .int, "workers": .int, "overlay": .bool, "format": .string, "buffers": .int,
                    "h264_fallback": .bool, "rotation": .int, "hflip": .bool, "vflip": .bool],
        "recording": ["root": .string, "enabled": .bool, "segment_seconds": .number, "fragment_seconds": .number, "fsync": .string,
                      "quota": .string, "min_free": .string, "event_pre_seconds": .number, "event_post_seconds": .number,
                      "event_quota_percent": .number, "event_max_seconds": .number, "codec": .string, "mode": .string],
        "motion": motionFields,
        "mqtt": ["url": .string, "user": .string, "password": .string, "ca_file": .string, "topic_prefix": .string, "discovery_prefix": .string,
                 "node_id": .string, "state_interval_seconds": .number],
        "rtsp": ["enabled": .bool, "host": .string, "port": .int, "publish": .string],
        "gps": ["gpsd": .string, "units": .string, "overlay_position": .bool, "speed_event_kmh": .number, "tiles": .string,
                "tiles_attribution": .string],
        "gsensor": ["device": .string, "threshold_g": .number, "parking_threshold_g": .number],
        "gpio": ["ignition": .string, "button": .string, "active_low": .bool, "bias": .string, "debounce_ms": .int,
                 "parking_shutdown_after": .string, "shutdown_command": .stringList,
                 "parking_timelapse": .number],
        "hooks": ["on_event_clip": .stringList, "on_segment_complete": .stringList, "timeout_seconds": .number, "max_running": .int, "queue": .int],
        "camera": ["id": .string, "source": .string, "size": .string, "fps": .int, "format": .string, "quality": .int,
                   "overlay": .bool, "workers": .int, "codec": .string, "mode": .string, "motion": .table,
                   "rtsp_path": .string, "rotation": .int, "hflip": .bool, "vflip": .bool, "audio": .string, "audio_bitrate": .int],
    ]

    private static let motionFields: [String: Kind] = [
        "enabled": .bool, "width": .int, "every": .int, "noise": .int, "area_percent": .number, "frames": .int,
        "lightswitch_percent": .number, "cooldown_seconds": .number, "zone": .tables]
    private static let zoneFields: [String: Kind] = ["kind": .string, "rect": .table, "points": .table]

    /// Parses TOML text; every key is checked for name and type (ranges are checked where the values are used).
    public static func parse(_ text: String, file: String) throws(ConfigFileError) -> ConfigFile {
        let root: TOMLTable
        do {
            root = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigFileError(description: "\(file):\(error.source.begin.line): not valid TOML: \(error.description)")
        } catch {
            throw ConfigFileError(description: "\(file): not valid TOML: \(error)")
        }
        let lines = LineIndex(text)
        func fail(_ table: String, _ key: String, _ value: String, _ problem: String, index: Int? = nil) -> ConfigFileError {
            let line = lines.line(table: table, key: key, index: index).map { ":\($0)" } ?? ""
            let header = table.isEmpty ? "" : (table == "camera" ? "[[camera]] " : "[\(table)] ")
            return ConfigFileError(description: "\(file)\(line): \(header)\(key)\(value.isEmpty ? "" : " = \(value)"): \(problem)")
        }
        var out = ConfigFile()
        var cameraMotion: [(id: String, index: Int, table: TOMLTable)] = []
        var rtspPaths: [String: String] = [:]
        for key in root.keys.sorted() {
            guard let fields = schema[key] else {
                throw fail("", key, "", "unknown setting; allowed tables: \(schema.keys.sorted().map { $0 == "camera" ? "[[camera]]" : "[\($0)]" }.joined(separator: ", "))")
            }
            let value = root[key]!
            if key == "camera" {
                guard let array = value.array else { throw fail("", key, "", "must be an array of tables: write [[camera]]") }
                for (i, element) in array.enumerated() {
                    guard let table = element.table else { throw fail("", key, "", "must be an array of tables: write [[camera]]") }
                    let camera = try cameraTable(table, index: i, fields: fields, fail: fail)
                    out.cameras.append(camera)
                    let id = camera.id
                    if let path = table["rtsp_path"]?.string {
                        guard RTSPSettings.isValidPath(path) else {
                            throw fail("camera", "rtsp_path", "\"\(path)\"", "not a usable path; allowed: 1 to 64 letters, digits, '-', '_', '.', and '/' inside, e.g. \"front\"", index: i)
                        }
                        rtspPaths[id] = path
                    }
                    if let motion = table["motion"] {
                        guard let m = motion.table else { throw fail("camera", "motion", "", "must be a table: write [camera.motion] after the [[camera]]", index: i) }
                        cameraMotion.append((id, i, m))
                    }
                }
                continue
            }
            guard let table = value.table else { throw fail("", key, "", "must be a table: write [\(key)]") }
            let v = try values(table, name: key, fields: fields, fail: fail)
            try check(v, table: key, fail: fail)
            switch key {
            case "server":
                out.host = v["host"] as? String
                out.port = v["port"] as? Int
                out.publicLive = v["public_live"] as? Bool
                out.maxConnections = v["max_connections"] as? Int
                out.trustedProxies = v["trusted_proxies"] as? [String]
            case "auth":
                out.authUser = v["user"] as? String
                out.passwordHash = v["password_hash"] as? String
                out.digestHA1 = v["digest_ha1"] as? String
                out.authFile = v["file"] as? String
            case "log":
                out.logLevel = v["level"] as? String
            case "mqtt":
                guard let url = v["url"] as? String else { throw fail("mqtt", "url", "", "the broker is needed, e.g. url = \"mqtt://192.168.1.10:1883\"") }
                var m = MQTTSettings(url: url, hostName: hostName())
                m.user = v["user"] as? String
                m.password = v["password"] as? String
                m.caFile = v["ca_file"] as? String
                if let x = v["topic_prefix"] as? String { m.topicPrefix = x }
                if let x = v["discovery_prefix"] as? String { m.discoveryPrefix = x }
                if let x = v["node_id"] as? String { m.nodeID = x }
                if let x = v["state_interval_seconds"] as? Double { m.stateIntervalSeconds = x }
                try checked("mqtt", fail) { () throws(MQTTError) in try m.validate() }
                out.mqtt = m
            case "gsensor":
                guard let device = v["device"] as? String else {
                    throw fail("gsensor", "device", "", "the accelerometer is needed, e.g. device = \"mpu6050\" (\(GSensorSettings.deviceAllowed))")
                }
                // Checked above: what is here is valid.
                guard var g = try? GSensorSettings(device: device, name: "device") else { continue }
                if let x = v["threshold_g"] as? Double { g.thresholdG = x }
                if let x = v["parking_threshold_g"] as? Double { g.parkingThresholdG = x }
                out.gsensor = g
            case "gpio":
                // Checked above: what is here is valid.
                var g = GPIOSettings()
                g.ignition = (v["ignition"] as? String).flatMap { try? GPIOLineSpec(parsing: $0, name: "ignition") }
                g.button = (v["button"] as? String).flatMap { try? GPIOLineSpec(parsing: $0, name: "button") }
                if let x = v["active_low"] as? Bool { g.activeLow = x }
                if let x = (v["bias"] as? String).flatMap(GPIOBias.init) { g.bias = x }
                if let x = v["debounce_ms"] as? Int { g.debounceMs = x }
                g.parkingTimelapse = v["parking_timelapse"] as? Double
                g.parkingShutdownAfter = (v["parking_shutdown_after"] as? String).flatMap { try? GPIOSettings.duration($0, name: "parking_shutdown_after") }
                if let x = v["shutdown_command"] as? [String] {
                    guard !x.isEmpty else { throw fail("gpio", "shutdown_command", "[]", "needs a program, e.g. [\"systemctl\", \"poweroff\"]") }
                    g.shutdownCommand = x
                }
                if g.isEmpty { throw fail("gpio", "ignition", "", "a line is needed: ignition = or button = \"CHIP:LINE\" (\(GPIOLineSpec.allowed))") }
                out.gpio = g
            case "gps":
                guard let address = v["gpsd"] as? String else { throw fail("gps", "gpsd", "", "gpsd's address is needed, e.g. gpsd = \"127.0.0.1:2947\"") }
                // Checked above: what is here is valid.
                guard var g = try? GPSSettings(address: address, name: "gpsd") else { continue }
                if let x = (v["units"] as? String).flatMap(SpeedUnit.init) { g.units = x }
                g.speedEventKmh = v["speed_event_kmh"] as? Double
                if let x = v["overlay_position"] as? Bool { g.overlayPosition = x }
                g.tiles = (v["tiles"] as? String).flatMap { try? MapTiles(template: $0, name: "tiles") }
                g.tiles?.attribution = v["tiles_attribution"] as? String
                out.gps = g
            case "rtsp":
                var r = RTSPSettings()
                if let x = v["enabled"] as? Bool { r.enabled = x }
                r.host = v["host"] as? String
                if let x = v["port"] as? Int { r.port = x }
                r.publish = v["publish"] as? String
                out.rtsp = r
            case "hooks":
                var h = HookSettings()
                h.onEventClip = v["on_event_clip"] as? [String]
                h.onSegmentComplete = v["on_segment_complete"] as? [String]
                if let x = v["timeout_seconds"] as? Double { h.timeoutSeconds = x }
                if let x = v["max_running"] as? Int { h.maxRunning = x }
                if let x = v["queue"] as? Int { h.queueLength = x }
                try checked("hooks", fail) { () throws(HookError) in try h.validate() }
                out.hooks = h
            case "motion":
                out.motion = try motionSettings(table, v, over: MotionSettings(), name: "motion", index: nil, fail: fail)
            case "capture":
                out.size = v["size"] as? String
                out.quality = v["quality"] as? Int
                out.workers = v["workers"] as? Int
                out.overlay = v["overlay"] as? Bool
                out.rotation = v["rotation"] as? Int
                out.hflip = v["hflip"] as? Bool
                out.vflip = v["vflip"] as? Bool
                out.format = (v["format"] as? String).flatMap(CaptureFormat.init)
                out.buffers = v["buffers"] as? Int
                out.h264Fallback = v["h264_fallback"] as? Bool
            default:  // recording
                out.recordings = v["root"] as? String
                out.record = v["enabled"] as? Bool
                out.segmentSeconds = v["segment_seconds"] as? Double
                out.fragmentSeconds = v["fragment_seconds"] as? Double
                // Checked above: what is here is valid.
                out.fsync = (v["fsync"] as? String).flatMap(SyncPolicy.init)
                out.quota = (v["quota"] as? String).flatMap(Quota.init)
                out.minFree = (v["min_free"] as? String).flatMap(parseSize)
                out.eventPre = v["event_pre_seconds"] as? Double
                out.eventPost = v["event_post_seconds"] as? Double
                out.eventQuota = v["event_quota_percent"] as? Double
                out.eventMax = v["event_max_seconds"] as? Double
                out.recordMode = (v["mode"] as? String).flatMap(RecordingMode.init)
                out.codec = (v["codec"] as? String).flatMap(VideoCodec.init)
            }
        }
        if !rtspPaths.isEmpty {
            if out.rtsp == nil { out.rtsp = RTSPSettings() }
            out.rtsp?.paths = rtspPaths
        }
        // A camera's own [camera.motion] keys override [motion]; its zones replace [motion]'s.
        for (id, i, table) in cameraMotion {
            let v = try values(table, name: "camera.motion", fields: motionFields, index: i, fail: fail)
            let motion = try motionSettings(table, v, over: out.motion ?? MotionSettings(), name: "camera.motion", index: i, fail: fail)
            if let k = out.cameras.firstIndex(where: { $0.id == id }) { out.cameras[k].motion = motion }
        }
        return out
    }

    /// Motion settings from a `[motion]` or `[camera.motion]` table over `base`, zones included, checked.
    private static func motionSettings(_ table: TOMLTable, _ v: [String: any Sendable], over base: MotionSettings, name: String, index: Int?,
                                       fail: Fail) throws(ConfigFileError) -> MotionSettings {
        var m = base
        if let x = v["enabled"] as? Bool { m.enabled = x }
        if let x = v["width"] as? Int { m.width = x }
        if let x = v["every"] as? Int { m.every = x }
        if let x = v["noise"] as? Int { m.noise = x }
        if let x = v["area_percent"] as? Double { m.areaPercent = x }
        if let x = v["frames"] as? Int { m.frames = x }
        if let x = v["lightswitch_percent"] as? Double { m.lightswitchPercent = x }
        if let x = v["cooldown_seconds"] as? Double { m.cooldownSeconds = x }
        if let zones = table["zone"] {
            guard let list = zones.array else { throw fail(name, "zone", "", "must be an array of tables: write [[\(name).zone]]", index) }
            m.zones = []
            for element in list {
                guard let zone = element.table else { throw fail(name, "zone", "", "must be an array of tables: write [[\(name).zone]]", index) }
                m.zones.append(try motionZone(zone, name: "\(name).zone", index: index, fail: fail))
            }
        }
        try checked(name, index: index, fail) { () throws(MotionError) in try m.validate() }
        return m
    }

    /// Runs a table's own validation, turning its message into an error naming the file, line and table.
    private static func checked<E: Error & CustomStringConvertible>(_ table: String, index: Int? = nil, _ fail: Fail,
                                                                   _ validate: () throws(E) -> Void) throws(ConfigFileError) {
        do {
            try validate()
        } catch {
            throw fail(table, "", "", error.description, index)
        }
    }

    /// One `[[motion.zone]]`: `kind = "include" | "exclude"` and `rect = [x, y, width, height]` or
    /// `points = [[x, y], …]`, in fractions of the picture.
    private static func motionZone(_ table: TOMLTable, name: String, index: Int?, fail: Fail) throws(ConfigFileError) -> MotionZone {
        let v = try values(table, name: name, fields: zoneFields, index: index, fail: fail)
        let kinds = MotionZone.Kind.allowed
        guard let kindName = v["kind"] as? String else { throw fail(name, "kind", "", "every zone needs a kind; allowed: \(kinds)", index) }
        guard let kind = MotionZone.Kind(rawValue: kindName) else { throw fail(name, "kind", "\"\(kindName)\"", "not allowed; allowed: \(kinds)", index) }
        func numbers(_ value: TOMLValueConvertible?) -> [Double]? {
            guard let list = value?.array else { return nil }
            let n = list.map { $0.double ?? $0.int.map(Double.init) }
            return n.contains(nil) ? nil : n.compactMap { $0 }
        }
        switch (table["rect"], table["points"]) {
        case (let rect?, nil):
            guard let r = numbers(rect), r.count == 4 else {
                throw fail(name, "rect", rect.debugDescription, "must be four numbers: [x, y, width, height] as fractions of the picture, e.g. [0.5, 0, 0.5, 0.3]", index)
            }
            return MotionZone(kind: kind, x: r[0], y: r[1], width: r[2], height: r[3])
        case (nil, let points?):
            guard let list = points.array, let pairs = Optional(list.map(numbers)), !pairs.contains(where: { $0?.count != 2 }) else {
                throw fail(name, "points", points.debugDescription, "must be a list of [x, y] pairs as fractions of the picture, e.g. [[0, 0], [1, 0], [0.5, 1]]", index)
            }
            return MotionZone(kind: kind, points: pairs.compactMap { $0 }.map { MotionZone.Point(x: $0[0], y: $0[1]) })
        default:
            throw fail(name, "rect", "", "give a zone either rect = [x, y, width, height] or points = [[x, y], …]", index)
        }
    }

    private typealias Fail = (String, String, String, String, Int?) -> ConfigFileError

    private static func values(_ table: TOMLTable, name: String, fields: [String: Kind], index: Int? = nil,
                               fail: Fail) throws(ConfigFileError) -> [String: any Sendable] {
        var out: [String: any Sendable] = [:]
        for key in table.keys.sorted() {
            let value = table[key]!
            let shown = value.debugDescription
            guard let kind = fields[key] else {
                throw fail(name, key, shown, "unknown setting; allowed: \(fields.keys.sorted().joined(separator: ", "))", index)
            }
            switch kind {
            case .string:
                guard let s = value.string else { throw fail(name, key, shown, "must be a string (in quotes)", index) }
                out[key] = s
            case .int:
                guard let n = value.int else { throw fail(name, key, shown, "must be a whole number", index) }
                out[key] = n
            case .number:
                guard let n = value.double ?? value.int.map(Double.init) else { throw fail(name, key, shown, "must be a number", index) }
                out[key] = n
            case .bool:
                guard let b = value.bool else { throw fail(name, key, shown, "must be true or false", index) }
                out[key] = b
            case .table, .tables:
                continue  // read by their own parser
            case .stringList:
                guard let list = value.array?.map(\.string), !list.contains(nil) else {
                    throw fail(name, key, shown, "must be a list of strings, e.g. [\"127.0.0.1\"]", index)
                }
                out[key] = list.compactMap { $0 }
            }
        }
        return out
    }

    /// Checks the ranges of one table's values, naming the key, the value and what is allowed.
    private static func check(_ v: [String: any Sendable], table: String, index: Int? = nil, fail: Fail) throws(ConfigFileError) {
        func range<T: Comparable & Sendable>(_ key: String, _ rule: RangeRule<T>) throws(ConfigFileError) {
            if let x = v[key] as? T, !rule.contains(x) { throw fail(table, key, "\(x)", "out of range; allowed: \(rule.allowed)", index) }
        }
        func choice<C: NamedChoice>(_ key: String, _ type: C.Type) throws(ConfigFileError) {
            try accepted(key, { C(rawValue: $0) != nil }, C.allowed)
        }
        func accepted(_ key: String, _ ok: (String) -> Bool, _ allowed: String) throws(ConfigFileError) {
            if let x = v[key] as? String, !ok(x) { throw fail(table, key, "\"\(x)\"", "not allowed; allowed: \(allowed)", index) }
        }
        try range("port", ServerSettings.portRule)
        try range("max_connections", ServerSettings.maxConnectionsRule)
        if let proxies = v["trusted_proxies"] as? [String], let bad = proxies.first(where: { !isIPAddress($0) }) {
            throw fail(table, "trusted_proxies", "\"\(bad)\"", "not an IP address; allowed: \(ServerSettings.proxyAllowed)", index)
        }
        try range("quality", CameraConfig.qualityRule)
        try range("workers", CameraConfig.workersRule)
        try range("fps", CameraConfig.fpsRule)
        try range("buffers", CaptureOptions.buffersRule)
        if let r = v["rotation"] as? Int, !Orientation.rotations.contains(r) {
            throw fail(table, "rotation", "\(r)", "not allowed; allowed: \(Orientation.rotationAllowed)", index)
        }
        try range("segment_seconds", RecordingConfig.segmentRule)
        try range("fragment_seconds", RecordingConfig.fragmentRule)
        try range("event_pre_seconds", RecordingConfig.eventPreRule)
        try range("event_post_seconds", RecordingConfig.eventPostRule)
        try range("event_quota_percent", RecordingConfig.eventQuotaRule)
        try range("event_max_seconds", RecordingConfig.eventMaxRule)
        try accepted("level", ServerSettings.logLevelRule.names.contains, ServerSettings.logLevelRule.allowed)
        try choice("format", CaptureFormat.self)
        try accepted("audio", { (try? AudioInput.parse($0, name: "audio")) != nil }, AudioInput.allowed)
        try range("audio_bitrate", AudioFormat.bitrateRule)
        try accepted("gpsd", { (try? GPSSettings(address: $0, name: "gpsd")) != nil }, GPSSettings.addressAllowed)
        try choice("units", SpeedUnit.self)
        try range("speed_event_kmh", GPSSettings.speedEventRule)
        try accepted("device", { (try? GSensorSettings(device: $0, name: "device")) != nil }, GSensorSettings.deviceAllowed)
        try range("threshold_g", GSensorSettings.thresholdRule)
        try range("parking_threshold_g", GSensorSettings.thresholdRule)
        for key in ["ignition", "button"] { try accepted(key, { (try? GPIOLineSpec(parsing: $0, name: key)) != nil }, GPIOLineSpec.allowed) }
        try choice("bias", GPIOBias.self)
        try range("debounce_ms", GPIOSettings.debounceRule)
        try range("parking_timelapse", GPIOSettings.timelapseRule)
        try accepted("parking_shutdown_after", { (try? GPIOSettings.duration($0, name: "parking_shutdown_after")) != nil },
                     GPIOSettings.shutdownRule.allowed)
        try accepted("tiles", { (try? MapTiles(template: $0, name: "tiles")) != nil }, MapTiles.allowed)
        if table == "recording" || table == "camera" {
            try choice("mode", RecordingMode.self)
            try choice("codec", VideoCodec.self)
        }
        try accepted("fsync", { SyncPolicy($0) != nil }, SyncPolicy.allowed)
        try accepted("quota", { Quota($0) != nil }, Quota.allowed)
        try accepted("min_free", { parseSize($0) != nil }, sizeAllowed)
        try accepted("password_hash", StoredCredentials.isHash, "a bcrypt hash ($2b$…, 60 characters), as `blackbox passwd --print-hash` makes")
        try accepted("digest_ha1", StoredCredentials.isHA1, "32 lowercase hex digits, as `blackbox passwd --print-hash` makes")
        try accepted("user", StoredCredentials.isValidUser, "1 to 64 characters without spaces or ':'")
        try accepted("size", { (try? CameraConfig.parseGeometry($0[...], base: CameraConfig.defaultGeometry, context: "")) != nil },
                     "WIDTHxHEIGHT@FPS with even sizes from 16 to 4096 and 1 to 120 fps, e.g. 1280x720@30")
    }

    /// A `[[camera]]` table as typed values: its source parsed as the command line's `ID=SOURCE[,FORMAT]` once, here;
    /// size and rate from its own keys over any the source string carries.
    private static func cameraTable(_ table: TOMLTable, index: Int, fields: [String: Kind], fail: Fail) throws(ConfigFileError) -> CameraTable {
        let v = try values(table, name: "camera", fields: fields, index: index, fail: fail)
        try check(v, table: "camera", index: index, fail: fail)
        guard let id = v["id"] as? String else { throw fail("camera", "id", "", "every [[camera]] needs an id, e.g. id = \"front\"", index) }
        let source = v["source"] as? String ?? "testpattern"
        let format = v["format"] as? String
        let neutral = CameraConfig(id: id)
        let parsed: CameraConfig
        do {
            parsed = try CameraConfig.parse("\(id)=\(source)" + (format.map { ",\($0)" } ?? ""), defaults: neutral)
        } catch {
            throw fail("camera", "source", "\"\(source)\"", error.description, index)
        }
        var camera = CameraTable(id: id, source: parsed.source, formatGiven: format != nil)
        if parsed.geometryExplicit || parsed.geometry != neutral.geometry {
            (camera.width, camera.height, camera.fps) = (parsed.geometry.width, parsed.geometry.height, parsed.geometry.fps)
        }
        if let size = v["size"] as? String, let g = try? CameraConfig.parseGeometry(size[...], base: neutral.geometry, context: "") {
            (camera.width, camera.height) = (g.width, g.height)
            if size.contains("@") { camera.fps = g.fps }
        }
        if let fps = v["fps"] as? Int { camera.fps = fps }
        camera.quality = v["quality"] as? Int
        camera.overlay = v["overlay"] as? Bool
        camera.rotation = v["rotation"] as? Int
        camera.hflip = v["hflip"] as? Bool
        camera.vflip = v["vflip"] as? Bool
        camera.workers = v["workers"] as? Int
        camera.codec = (v["codec"] as? String).flatMap(VideoCodec.init)
        camera.mode = (v["mode"] as? String).flatMap(RecordingMode.init)
        camera.audio = (v["audio"] as? String).flatMap { try? AudioInput.parse($0, name: "audio") }
        camera.audioBitrate = v["audio_bitrate"] as? Int
        return camera
    }
}

/// Finds the line a key is on, tracking `[table]` and `[[camera]]` headers (TOMLKit gives positions
/// only for syntax errors).
struct LineIndex {
    private var lines: [(table: String, index: Int, key: String, line: Int)] = []

    init(_ text: String) {
        var table = "", cameraIndex = -1
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("[[") {
                table = line.dropFirst(2).prefix { $0 != "]" }.trimmingCharacters(in: .whitespaces)
                if table == "camera" { cameraIndex += 1 }
            } else if line.hasPrefix("[") {
                table = line.dropFirst().prefix { $0 != "]" }.trimmingCharacters(in: .whitespaces)
            } else if let eq = line.firstIndex(of: "="), !line.hasPrefix("#") {
                let key = line[..<eq].trimmingCharacters(in: .whitespaces)
                lines.append((table, table == "camera" ? cameraIndex : 0, key, n + 1))
            }
            if line.hasPrefix("[") && !line.hasPrefix("[[") { lines.append((table, 0, "[\(table)]", n + 1)) }
        }
    }

    func line(table: String, key: String, index: Int?) -> Int? {
        lines.first { $0.table == table && $0.key == key && (index == nil || $0.index == index) }?.line
            ?? lines.first { $0.key == "[\(key)]" }?.line
    }
}

/// This machine's host name (the default MQTT node id).
func hostName() -> String {
    var name = [CChar](repeating: 0, count: 256)
    guard gethostname(&name, name.count - 1) == 0 else { return "blackbox" }
    return String(cString: name)
}

/// Whether `text` is a literal IPv4 or IPv6 address.
public func isIPAddress(_ text: String) -> Bool {
    var v4 = in_addr()
    var v6 = in6_addr()
    return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
}
