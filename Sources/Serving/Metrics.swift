import Analysis
import Cameras
import Hummingbird
import Prometheus
import Recording
import ServiceSettings
import Telemetry
import Synchronization

/// `/metrics` in the Prometheus text format (swift-prometheus): frames captured, encoded and
/// dropped by cause, live clients, measured fps, encode-time histogram, bytes recorded, disk usage.
///
/// Counters are brought up to date at each scrape from the pipeline's own atomics (the hot path
/// keeps no second set of counters); the histogram is fed per encoded frame.
final class Metrics: Sendable {
    private let registry = PrometheusCollectorRegistry()
    private let cameras: [Camera]
    private let recordings: RecordingsAccess?
    private let services: ServiceReports
    private let seen = Mutex<[String: UInt64]>([:])

    init(cameras: [Camera], recordings: RecordingsAccess?, services: ServiceReports = ServiceReports()) {
        self.services = services
        self.cameras = cameras
        self.recordings = recordings
        let buckets: [Duration] = [1, 2, 4, 8, 16, 32, 64, 128].map { .milliseconds($0) }
        for camera in cameras {
            let histogram = registry.makeDurationHistogram(
                descriptor: .init(namespace: "blackbox", metricName: "encode", unitName: "seconds", helpText: "Time to draw the overlay and encode one frame"),
                labels: [("camera", camera.config.id)], buckets: buckets)
            camera.encoder.stats.observe { histogram.record(.nanoseconds(Int64($0))) }
        }
    }

    private func counter(_ name: String, _ help: String, _ camera: String, extra: [(String, String)] = [], value: UInt64) {
        let key = ([name, camera] + extra.map { "\($0.0)=\($0.1)" }).joined(separator: "|")
        let delta = seen.withLock { last -> UInt64 in
            defer { last[key] = value }
            return value >= (last[key] ?? 0) ? value - (last[key] ?? 0) : value  // a restarted source counts again from 0
        }
        registry.makeCounter(descriptor: .init(namespace: "blackbox", metricName: name, unitName: "total", helpText: help),
                             labels: [("camera", camera)] + extra).increment(by: Int64(delta))
    }

    private func gauge(_ name: String, _ unit: String, _ help: String, _ labels: [(String, String)], _ value: Double) {
        registry.makeGauge(descriptor: .init(namespace: "blackbox", metricName: name, unitName: unit, helpText: help), labels: labels).set(value)
    }

    /// The exposition text, brought up to date.
    func render() -> String {
        for camera in cameras {
            let s = camera.status()
            let id = s.id
            counter("frames_captured", "Frames delivered by the source", id, value: s.framesCaptured)
            counter("frames_encoded", "Frames encoded and published", id, value: s.framesEncoded)
            for (cause, value) in [("no_free_buffer", s.drops.noFreeBuffer), ("encoder_busy", s.drops.encoderBusy),
                                   ("encode_error", s.drops.encodeErrors), ("source_late", s.drops.sourceLate),
                                   ("corrupt_jpeg", s.drops.corruptJPEG), ("device_dropped", s.drops.deviceDropped),
                                   ("device_error", s.drops.deviceErrors)] {
                counter("frames_dropped", "Frames lost, by cause", id, extra: [("cause", cause)], value: value)
            }
            counter("viewer_skipped_frames", "Frames slow live viewers skipped", id, value: s.viewerSkippedFrames)
            counter("source_reconnects", "Times the source was lost and reopened", id, value: s.reconnects)
            gauge("live_clients", "count", "Open live MJPEG streams", [("camera", id)], Double(s.liveClients))
            gauge("frame_rate", "fps", "Frames published per second over the last 2 s", [("camera", id)], s.measuredFps)
            gauge("streaming", "bool", "1 while the source delivers pictures", [("camera", id)], s.state == "streaming" ? 1 : 0)
            if let r = s.recording {
                counter("recorded_bytes", "Bytes written to recordings", id, value: UInt64(r.bytesWritten))
                counter("recording_dropped_frames", "Frames not recorded (disk slow or failing)", id, value: r.droppedFrames)
                counter("event_clips", "Event clips saved", id, value: UInt64(r.events))
                gauge("recording", "bool", "1 while recording", [("camera", id)], r.state == .recording ? 1 : 0)
            }
            if let a = s.audio {
                counter("sound_units", "AAC units of sound encoded", id, value: a.units)
                counter("sound_gaps", "Times the sound stopped and came back (device lost, overrun)", id, value: a.gaps)
                gauge("sound_up", "bool", "1 while sound comes in", [("camera", id)], a.state == .running ? 1 : 0)
                gauge("sound_muted", "bool", "1 while silence is recorded instead of the microphone", [("camera", id)], a.muted ? 1 : 0)
                if let peak = a.peakDBFS { gauge("sound_peak", "dbfs", "Loudest sample of the last 100 ms as recorded", [("camera", id)], peak) }
            }
            if let m = s.motion {
                gauge("motion", "bool", "1 while the camera sees motion", [("camera", id)], m.state == .motion ? 1 : 0)
                gauge("motion_score", "percent", "Share of the picture that changed in the last analysed frame", [("camera", id)], m.score)
                counter("motion_events", "Motion events since launch", id, value: UInt64(m.events))
                counter("motion_dropped_frames", "Frames the motion detector was too busy to analyse", id, value: m.dropped)
            }
        }
        if let usage = recordings?.retention.usage {
            gauge("disk_free", "bytes", "Free space on the recordings filesystem", [], Double(usage.freeBytes))
            gauge("recordings_used", "bytes", "Space used by recordings", [], Double(usage.usedBytes))
            gauge("recordings_quota", "bytes", "Quota of the recordings", [], Double(usage.quotaBytes))
        }
        if let recovered = recordings?.recovered {
            counter("recovered_segments", "Unfinished segments recovered at start-up", "all", value: UInt64(recovered))
        }
        if let h = recordings?.hooks?() {
            for (result, value) in [("succeeded", h.succeeded), ("failed", h.failed), ("timed_out", h.timedOut), ("dropped", h.dropped)] {
                counter("hooks", "Hooks run for finished recordings, by result (timed_out is also failed)", "all", extra: [("result", result)], value: value)
            }
        }
        if let m = services.mqtt?() {
            gauge("mqtt_connected", "bool", "1 while connected to the MQTT broker", [], m.connected ? 1 : 0)
            counter("mqtt_published", "MQTT messages published", "all", value: m.published)
        }
        if let r = services.rtsp?() {
            gauge("rtsp_listening", "bool", "1 while the RTSP server listens", [], r.listening ? 1 : 0)
            for s in r.streams {
                gauge("rtsp_clients", "count", "RTSP clients playing a camera", [("camera", s.camera)], Double(s.clients))
                counter("rtsp_frames_dropped", "H.264 frames not passed to RTSP clients (clients behind or queue full)", s.camera,
                        value: s.framesDropped)
            }
        }
        if let a = services.gsensor?() {
            gauge("gsensor_reading", "bool", "1 while the accelerometer's readings come in", [], a.state == .reading ? 1 : 0)
            counter("gsensor_samples", "Accelerometer readings", "all", value: a.samples)
            counter("gsensor_impacts", "Impacts found (each saved a protected event clip)", "all", value: a.impacts)
        }
        if let p = services.gpio?() {
            if p.ignition != nil { gauge("parked", "bool", "1 while parked (the ignition off)", [], p.parked ? 1 : 0) }
            counter("button_presses", "Presses of the save button (each saved a protected manual clip)", "all", value: p.presses)
        }
        if let g = services.gps?() {
            gauge("gps_fix", "bool", "1 while the GPS has a fix", [], g.state == .fix ? 1 : 0)
            gauge("gps_connected", "bool", "1 while gpsd answers", [], g.state == .fix || g.state == .noFix ? 1 : 0)
            counter("gps_reports", "Reports (TPV) received from gpsd", "all", value: g.reports)
            if let speed = g.last?.speed, g.state == .fix { gauge("gps_speed", "meters_per_second", "Speed over ground", [], speed) }
            if let offset = g.clockOffsetSeconds { gauge("gps_clock_offset", "seconds", "The GPS's time minus the system clock", [], offset) }
        }
        return registry.emitToString()
    }

    func response() -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: render())))
    }
}
