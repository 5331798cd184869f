import Cameras
import Evidence
import Foundation
import GPSD
import Logging
import Recording
import Synchronization
import Telemetry

/// How the GPS reaches the cameras in this executable: each report goes into every camera's recordings as a CAMM
/// record, its line onto every camera's picture, and a speed over `speed_event_kmh` saves an event clip.
enum GPSWiring {
    /// A started client for `settings`, wired to `cameras`.
    static func start(_ settings: GPSSettings, cameras: [Camera], logger: Logger) -> GPSDClient {
        let client = GPSDClient(settings: settings, logger: logger)
        let watch = settings.speedEventKmh.map { Mutex(SpeedWatch(limitKmh: $0)) }
        client.reports.add { fix in
            if fix.hasPosition, let time = fix.time, abs(time - Date().timeIntervalSince1970) < 1 {
                ClockSync.noteGPSAgreement(atMonotonic: fix.monotonicNanos)
            }
            let sample = MetadataSample(monotonicNanos: fix.monotonicNanos, bytes: fix.cammRecord)
            for camera in cameras { camera.recorder?.takeMetadata(sample) }
            if let kmh = watch?.withLock({ $0.check(fix) }) {
                let shown = Int(settings.units.convert(Double(kmh) / 3.6).rounded())
                for camera in cameras { _ = camera.recorder?.triggerEvent(reason: "speed \(shown) \(settings.units.symbol)") }
                logger.notice("over the speed limit: event clips saved", metadata: ["speedKmh": "\(kmh)", "limitKmh": "\(Int(settings.speedEventKmh ?? 0))"])
            }
        }
        client.overlayLines.add { line in
            for camera in cameras { camera.encoder.settings.setCaption(line) }
        }
        client.start()
        return client
    }
}
