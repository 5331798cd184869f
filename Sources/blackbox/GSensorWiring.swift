import Cameras
import Foundation
import Frames
import IIO
import Logging
import Platform
import Recording
import Telemetry

/// How the accelerometer reaches the cameras in this executable: every reading goes into every camera's recordings as
/// a CAMM record, and an impact saves an event clip on every camera, protected from loop overwrite (as a dashcam locks
/// an impact's file), with the impact's size as its reason.
enum GSensorWiring {
    /// A started reader for `settings`, wired to `cameras`.
    static func start(_ settings: GSensorSettings, cameras: [Camera], logger: Logger) -> IIOAccelerometer {
        let reader = IIOAccelerometer(settings: settings, logger: logger)
        reader.readings.add { reading in
            let sample = MetadataSample(monotonicNanos: reading.monotonicNanos, bytes: reading.cammRecord)
            for camera in cameras { camera.recorder?.takeMetadata(sample) }
        }
        reader.impacts.add { impact in
            let reason = "impact \(String(format: "%.1f", impact.g)) g"
            // The clip is placed at the impact itself (its pre-roll before it), not at the moment the burst was over.
            let at = CaptureTime.at(monotonicNanos: impact.monotonicNanos)
            for camera in cameras {
                guard let recorder = camera.recorder else { continue }
                let ticket = recorder.triggerEvent(reason: reason, now: at, protect: true)
                logger.notice("impact: protected event clip saved", metadata: ["camera": "\(camera.config.id)", "g": "\(impact.g)",
                                                                                 "file": "\(ticket.file)"])
            }
        }
        reader.start()
        return reader
    }
}
