import Cameras
import Foundation
import Frames
import GPIO
import IIO
import Logging
import Platform
import Recording
import Synchronization
import Telemetry

/// How the ignition and button lines reach the cameras in this executable. Ignition off parks every camera (continuous
/// recording gives way to motion and impact clips, saved as parking clips; the accelerometer takes its parking
/// threshold) and, with `parking_shutdown_after`, asks the system to power off after that long; ignition on returns to
/// the mode before. A button press saves a protected manual clip on every camera. Every change is logged, kept in the
/// parking journal (the timeline's parked spans) and in the status (and so in MQTT and the metrics).
final class GPIOWiring: Sendable {
    private let inputs: GPIOInputs
    private let state: Mutex<GPIOStatus>
    private let settings: GPIOSettings
    private let cameras: [Camera]
    private let gsensor: IIOAccelerometer?
    private let journal: ParkingJournal?
    private let logger: Logger
    /// Counts parkings: a shutdown planned for one parking does not fire after the car drove in between.
    private let parking = Atomic<UInt64>(0)

    /// Reads `settings`' lines and acts on them until `stop()`.
    init(_ settings: GPIOSettings, cameras: [Camera], gsensor: IIOAccelerometer?, recordings: String?, logger: Logger) {
        self.settings = settings
        self.cameras = cameras
        self.gsensor = gsensor
        self.logger = logger
        journal = recordings.map(ParkingJournal.init)
        inputs = GPIOInputs(settings: settings, logger: logger)
        state = Mutex(GPIOStatus(ignition: settings.ignition?.description, button: settings.button?.description))
        inputs.changes.add { [self] change in
            switch change.role {
            case .ignition: ignition(on: change.active, initial: change.initial)
            case .button: if change.active && !change.initial { press(at: change.monotonicNanos) }
            }
        }
        inputs.start()
    }

    /// Releases the lines.
    func stop() {
        inputs.stop()
    }

    /// The lines and parking now.
    func status() -> GPIOStatus {
        let lines = inputs.status()
        var s = state.withLock { $0 }
        s.ignition = lines[.ignition]
        s.button = lines[.button]
        // A line that cannot be read says nothing of the ignition (parking stays as it was last known).
        if let ignition = s.ignition, ignition.active == nil { s.ignitionState = .unknown }
        return s
    }

    private func ignition(on: Bool, initial: Bool) {
        let now = Date().timeIntervalSince1970
        let parked = !on
        let changed = state.withLock { s -> Bool in
            s.ignitionState = on ? .on : .off
            guard s.parked != parked else { return false }
            s.parked = parked
            s.parkedSince = parked ? now : nil
            s.shutdownAt = parked ? settings.parkingShutdownAfter.map { now + $0 } : nil
            return true
        }
        guard changed else { return }
        for camera in cameras { camera.setParked(parked, timelapseFps: settings.parkingTimelapse) }
        gsensor?.setParked(parked)
        journal?.append(parked: parked, at: now)
        logger.notice(parked ? "ignition off: parked (motion and impact clips only)" : "ignition on: driving (recording as before parking)",
                      metadata: ["initial": "\(initial)", "shutdownAfterSeconds": "\(parked ? settings.parkingShutdownAfter.map { "\($0)" } ?? "never" : "-")"])
        let generation = parking.add(1, ordering: .relaxed).newValue
        if parked, let after = settings.parkingShutdownAfter {
            DispatchQueue.global(qos: .utility).asyncAfter(deadline: .now() + after) { [self] in
                guard parking.load(ordering: .relaxed) == generation, state.withLock({ $0.parked }) else { return }
                powerOff(after: after)
            }
        }
    }

    private func powerOff(after: Double) {
        logger.notice("parked for \(Int(after)) s: asking the system to power off", metadata: ["command": "\(settings.shutdownCommand.joined(separator: " "))"])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = settings.shutdownCommand
        do {
            try process.run()
            process.waitUntilExit()
            if process.terminationStatus != 0 {
                logger.error("the power-off command failed", metadata: ["status": "\(process.terminationStatus)"])
            }
        } catch {
            logger.error("the power-off command cannot be run", metadata: ["error": "\(error)"])
        }
    }

    private func press(at monotonicNanos: UInt64) {
        state.withLock { $0.presses += 1 }
        let at = CaptureTime.at(monotonicNanos: monotonicNanos)
        for camera in cameras {
            guard let recorder = camera.recorder else { continue }
            let ticket = recorder.triggerEvent(reason: "button", now: at, protect: true, manual: true)
            logger.notice("button: protected manual clip saved", metadata: ["camera": "\(camera.config.id)", "file": "\(ticket.file)"])
        }
    }
}
