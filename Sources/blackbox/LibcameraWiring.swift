import Cameras
import Foundation
import Capture
import Frames
import LibcameraCapture
import Logging
import Platform

/// How `libcamera:` cameras are made in this executable: in-process through GStreamer's libcamerasrc.
enum LibcameraWiring {
    /// Replaces libcamerasrc by a gst-launch description: a fake camera for tests on machines that have none, named as
    /// such in the log.
    static let fakeVariable = "BLACKBOX_LIBCAMERA_FAKE"

    /// The factory `CaptureOptions.libcamera` takes.
    static let factory: @Sendable (String, String, FrameGeometry, Logger) -> any FrameSource = { cameraID, selector, geometry, logger in
        let fake = ProcessInfo.processInfo.environment[fakeVariable].flatMap { $0.isEmpty ? nil : $0 }
        if let fake {
            logger.warning("libcamera camera replaced by a fake for tests", metadata: ["camera": "\(cameraID)", "pipeline": "\(fake)"])
        }
        return LibcameraSource(cameraID: cameraID, selector: selector, geometry: geometry, logger: logger, fake: fake)
    }
}
