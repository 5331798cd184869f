import Analysis
import Capture
import Encoding
import Evidence
import FrameBus
import Frames
import Platform
import Logging
import Recording
import Synchronization

/// One camera: its source, encoder pool and frame bus, running side by side with any others.
public final class Camera: Sendable {
    /// Id and current settings (size, rate, quality and overlay change at run time).
    public var config: CameraConfig { state.withLock { $0.config } }
    /// Everything that changes while the camera runs, behind one lock (shared with the motion callback).
    private let state: CameraState
    /// Serialises the slow changes (a source restarted, an H.264 encoder started or joined), which must not hold
    /// `state`'s lock: the capture thread reads it for every frame.
    private let switching = Mutex<Void>(())
    /// Where its encoded frames are published.
    public let bus: FrameBus
    /// Frame source (replaced by `switchSource`).
    public var source: any FrameSource { state.withLock { $0.source } }
    private let capture: CaptureOptions
    /// Encoder threads.
    public let encoder: EncoderPool
    /// Segment and event-clip writer (nil when the camera does not record).
    public let recorder: Recorder?
    /// The camera's sound (nil without `audio`, or when it does not record).
    public let sound: (any AudioSource)?
    /// Every sound unit, on the sound's thread, after the recorder took it (RTSP's sound stream listens here).
    public let soundUnits = Observers<EncodedAudio>()
    /// The test pattern's flash the test click sounds on (only with `audio = "test:click"`).
    private let flash: SyncFlash?
    /// The motion detector (with recording, unless `[motion] enabled = false`).
    public let motion: MotionAnalyser?
    /// Motion starting (`true`, repeated about once a second while it lasts) and ending (`false`), on the detector's thread.
    public let motionEvents: Observers<Bool>
    /// What is recorded now (nil when the camera does not record); changed with `setRecordMode`.
    public var recordMode: RecordingMode? { state.withLock { $0.mode } }
    /// The H.264 stream: while the camera records H.264, or while live H.264 or RTSP clients watch (else nil).
    public var h264: H264Stream? { state.withLock { $0.h264 } }
    /// The codec the camera records in (changeable at run time with `setCodec`).
    public var codec: VideoCodec { state.withLock { $0.codec } }
    private let fragmentSeconds: Double
    /// Where H.264 frames are published (no frame comes when `h264` is nil).
    public let h264Bus = FrameBus()
    /// Who needs JPEGs now (live viewers, snapshots, MJPEG recording); also counts live connections.
    public let jpegDemand: JPEGDemand
    /// Live clients of both kinds and the bytes each is sent.
    public let live = LiveClients()
    /// x264 encoders open for this camera, whichever stream opened them.
    private let h264Encoders = InstanceCount()
    /// Whether the recorder takes H.264 (then the encoder runs whoever watches).
    private var recordsH264: Bool { recorder != nil && codec == .h264 }

    private let meter = RateMeter()
    private let running = Atomic<Bool>(false)
    /// Frames (pictures and NO SIGNAL alike) the source handed to the pipeline: capture's pulse.
    private let delivered = Atomic<UInt64>(0)

    /// Builds the pipeline for `config` (threads for the encoders start now, idle until frames arrive).
    public convenience init(config: CameraConfig, recording: RecordingSetup? = nil, capture: CaptureOptions = CaptureOptions()) throws {
        let flash = config.audio == .testClick ? SyncFlash() : nil
        try self.init(config: config, source: Camera.makeSource(config.source, for: config, capture: capture, flash: flash), recording: recording,
                      capture: capture, flash: flash)
    }

    /// The source a spec names, at the camera's size and rate.
    static func makeSource(_ spec: SourceSpec, for config: CameraConfig, capture: CaptureOptions, flash: SyncFlash?) -> any FrameSource {
        switch spec {
        case .testPattern:
            return TestPatternSource(cameraID: config.id, geometry: config.geometry, poolSize: config.workers * 2 + 4, flash: flash)
        case .v4l2(let path, let format):
            return V4L2Source(cameraID: config.id, path: path, geometry: config.geometry, format: format, buffers: capture.buffers,
                              h264Fallback: capture.h264Fallback, logger: capture.logger)
        case .rpicam(let index, let codec):
            return RpicamSource(cameraID: config.id, index: index, geometry: config.geometry, codec: codec, logger: capture.logger)
        case .libcamera(let selector):
            guard let make = capture.libcamera else {
                return UnreadableSource(description: "libcamera:\(selector)", geometry: config.geometry,
                                        error: CaptureError.unsupported("this build has no libcamera support"))
            }
            return make(config.id, selector, config.geometry, capture.logger)
        case .file(let path):
            do {
                return try FileSource(cameraID: config.id, path: path, poolSize: config.workers * 2 + 4)
            } catch {
                return UnreadableSource(description: "file \(path)", geometry: config.geometry, error: error)
            }
        }
    }

    /// Replaces the source (e.g. `rpicam:0` → `rpicam:1`) while the encoders, bus and recorder go on.
    /// The old source is stopped completely (its device closed, its child reaped) before the new one
    /// starts; if the new one cannot start, the old one is started again and the error is thrown.
    public func switchSource(to spec: SourceSpec) throws {
        var wanted = config
        wanted.source = spec
        try restartSource(as: wanted)
    }

    /// Changes size and rate: the source restarts with them (the recorder starts a new segment
    /// at the first frame of the new size). On failure the previous settings run again and the error is thrown.
    public func resize(to geometry: FrameGeometry) throws {
        var wanted = config
        wanted.geometry = geometry
        try restartSource(as: wanted)
    }

    /// The sound's format and a queue of its units from now on, when the sound is running (nil otherwise: a stream
    /// that promised sound and got none would stall its player).
    public func subscribeSound() -> (format: AudioFormat, units: SoundSubscription)? {
        guard let sound, sound.status().state == .running, let format = recorder?.audio else { return nil }
        return (format, SoundSubscription(soundUnits))
    }

    /// Records silence (true) or the microphone (false); no-op without sound. Kept in the settings.
    public func setAudioMuted(_ muted: Bool) {
        guard let sound else { return }
        state.withLock { $0.config.audioMuted = muted }
        sound.setMuted(muted)
    }

    /// Sets JPEG quality and overlay; encoders pick them up at the next frame.
    public func setEncoding(quality: Int? = nil, overlay: Bool? = nil) {
        state.withLock {
            if let quality { $0.config.quality = quality }
            if let overlay { $0.config.overlay = overlay }
        }
        if let quality { encoder.settings.quality.store(quality, ordering: .relaxed) }
        if let overlay { encoder.settings.overlay.store(overlay, ordering: .relaxed) }
    }

    private func restartSource(as wanted: CameraConfig) throws {
        try switching.withLock { _ in
            let (previous, sink) = state.withLock { ($0.config, $0.sink) }
            guard let sink else { throw CaptureError.unsupported("camera '\(previous.id)' is not running") }
            source.stop()
            let next = Camera.makeSource(wanted.source, for: wanted, capture: capture, flash: flash)
            do {
                try next.start(sink: sink)
                state.withLock {
                    $0.source = next
                    $0.config.source = wanted.source
                    $0.config.geometry = wanted.geometry
                }
            } catch {
                let again = Camera.makeSource(previous.source, for: previous, capture: capture, flash: flash)
                try? again.start(sink: sink)
                state.withLock { $0.source = again }
                throw error
            }
        }
    }

    /// Builds the pipeline around an explicit source (tests, benchmarks).
    public init(config: CameraConfig, source: any FrameSource, recording: RecordingSetup? = nil, capture: CaptureOptions = CaptureOptions(),
                flash: SyncFlash? = nil) throws {
        self.capture = capture
        self.flash = flash
        let bus = FrameBus()
        self.bus = bus
        let h264Bus = self.h264Bus
        let codec = config.codec ?? recording?.config.codec ?? .mjpeg
        fragmentSeconds = recording?.config.fragmentSeconds ?? 1
        // Sound is recorded with the picture: a camera that does not record has no use for it.
        let soundFormat = config.audio != nil && capture.audio != nil ? AudioFormat(bitrate: config.audioBitrate) : nil
        let recorder = recording.map {
            Recorder(camera: config.id, fps: config.geometry.fps, bus: codec == .h264 ? h264Bus : bus, config: $0.config,
                     retention: $0.retention, logger: $0.logger, key: $0.key, audio: soundFormat,
                     metadata: $0.metadata)
        }
        self.recorder = recorder
        if let recorder, let soundFormat, let input = config.audio, let make = capture.audio {
            let units = soundUnits
            sound = make(AudioRequest(camera: config.id, input: input, format: soundFormat, flash: flash, muted: config.audioMuted,
                                      logger: capture.logger, sink: { recorder.takeAudio($0); units.publish($0) }))
        } else {
            sound = nil
        }
        let startMode = recording.map { config.recordMode ?? $0.config.mode }
        let state = CameraState(config: config, source: source, codec: codec, mode: startMode)
        self.state = state
        recorder?.setRecording(startMode == .continuous)
        let motionSettings = config.motion ?? recording?.motion ?? MotionSettings()
        let events = Observers<Bool>()
        motionEvents = events
        if recording != nil, motionSettings.enabled, let recorder {
            // In motion mode, motion starts an event clip and, while it goes on, keeps extending it (up to the
            // clip's maximum). In continuous mode it is detected and reported only: every second is recorded
            // anyway, and a moving car would otherwise write its whole drive twice. Off: reported only.
            motion = MotionAnalyser(camera: config.id, settings: motionSettings) { active in
                if active && state.withLock({ $0.mode }) == .motion { _ = recorder.triggerEvent(reason: "motion") }
                events.publish(active)
            }
        } else {
            motion = nil
        }
        let encoderSettings = EncoderSettings(quality: config.quality, overlay: config.overlay, label: config.id, orientation: config.orientation)
        // With H.264 recording JPEGs come on demand; without a recorder nothing is encoded until someone watches.
        let demand = JPEGDemand(always: codec != .h264 && recording != nil)
        jpegDemand = demand
        encoder = try EncoderPool(workers: config.workers, settings: encoderSettings) { frame in
            bus.publish(frame)
        }
        if codec == .h264 && recorder != nil { startH264Stream() }
    }

    /// A new H.264 stream publishing to `h264Bus`, with an IDR picture at every fragment start.
    private func makeH264Stream() -> H264Stream {
        let h264Bus = self.h264Bus
        return H264Stream(fps: config.geometry.fps, keyframeSeconds: fragmentSeconds, settings: encoder.settings,
                          counted: h264Encoders) { frame in
            h264Bus.publish(frame)
        }
    }

    /// Starts the H.264 stream unless it runs (called under `switching`, so no second one starts meanwhile).
    private func startH264Stream() {
        guard h264 == nil else { return }
        let stream = makeH264Stream()
        state.withLock { $0.h264 = stream }
    }

    /// Takes the H.264 stream out and stops it (joins its thread).
    private func stopH264Stream() {
        state.withLock { s -> H264Stream? in
            defer { s.h264 = nil }
            return s.h264
        }?.stop()
    }

    /// A live H.264 client joins: with MJPEG recording, the H.264 encoder starts for the live stream (one per camera,
    /// however many clients). Blocking (may start a thread): call off the event loop.
    public func joinH264Live() {
        switching.withLock { _ in
            startH264Stream()
            state.withLock { $0.h264Viewers += 1 }
        }
    }

    /// A live H.264 client leaves: with MJPEG recording and no other client, the H.264 encoder stops.
    /// Blocking (joins a thread): call off the event loop.
    public func leaveH264Live() {
        switching.withLock { _ in
            let left = state.withLock { s in
                s.h264Viewers -= 1
                return s.h264Viewers
            }
            guard left == 0, !recordsH264 else { return }
            stopH264Stream()
        }
    }

    /// Records in `codec` from now on: the segment being written ends, and the next one starts in
    /// the new codec (at its first keyframe). Switching to MJPEG stops the H.264 encoder; switching
    /// to H.264 starts it and makes JPEGs on demand only.
    public func setCodec(_ codec: VideoCodec) {
        switching.withLock { _ in
            guard self.codec != codec else { return }
            if codec == .h264 {
                if let recorder {
                    // An encoder already running for live H.264 or RTSP clients goes on: now for the recorder too.
                    startH264Stream()
                    recorder.use(h264Bus)
                }
                jpegDemand.always = false
            } else {
                jpegDemand.always = recorder != nil
                recorder?.use(bus)
                // Live H.264 clients keep the encoder running for them.
                if state.withLock({ $0.h264Viewers }) == 0 {
                    stopH264Stream()
                }
            }
            state.withLock {
                $0.codec = codec
                $0.config.codec = codec
            }
        }
    }

    /// Records in `mode` from now on and keeps it in the settings (saved across restarts): continuous writes
    /// segments, motion and off do not (a segment being written ends at once); motion clips only in motion
    /// mode. No-op without a recorder.
    public func setRecordMode(_ wanted: RecordingMode) {
        guard recorder != nil else { return }
        // A mode chosen while parked is the one kept when the car drives again, and records at full rate.
        state.withLock { $0.parkedFrom = nil }
        recorder?.setTimelapse(seconds: nil)
        apply(wanted)
        state.withLock { $0.config.recordMode = wanted }
    }

    /// Switches recording on (back to the last mode that recorded, continuous at first) or off, for this run
    /// only: after a restart the camera records in its configured mode again.
    public func setRecording(_ on: Bool) {
        state.withLock { $0.parkedFrom = nil }
        recorder?.setTimelapse(seconds: nil)
        apply(on ? state.withLock { $0.lastActiveMode } : .off)
    }

    /// Parks the camera (the ignition is off) or drives again. Parked, continuous recording gives way to motion and
    /// impact clips (a parked car watched for days without filling the card), saved as parking clips; driving again
    /// returns to the mode before. A camera recording nothing, or only clips, keeps its mode. With `timelapseFps`,
    /// continuous recording goes on while parked as a time-lapse of that many frames a second.
    public func setParked(_ parked: Bool, timelapseFps: Double? = nil) {
        guard let recorder else { return }
        recorder.setParked(parked)
        let target = state.withLock { s -> RecordingMode? in
            if parked {
                guard s.parkedFrom == nil, s.mode == .continuous else { return nil }
                s.parkedFrom = .continuous
                return .motion
            }
            defer { s.parkedFrom = nil }
            return s.parkedFrom
        }
        if !parked { recorder.setTimelapse(seconds: nil) }
        if let target { apply(target) }
        if parked, target != nil, let fps = timelapseFps, fps > 0 {
            recorder.setTimelapse(seconds: 1 / fps)
            recorder.setRecording(true)
        }
    }

    private func apply(_ wanted: RecordingMode) {
        guard let recorder else { return }
        state.withLock {
            $0.mode = wanted
            if wanted != .off { $0.lastActiveMode = wanted }
        }
        recorder.setRecording(wanted == .continuous)
    }

    /// Starts capture. With `lossless`, the source waits for the encoders instead of dropping (benchmarks).
    public func start(lossless: Bool = false) throws {
        let encoder = self.encoder
        let demand = jpegDemand
        recorder?.start()
        sound?.start()
        let motion = self.motion
        let meter = self.meter
        let orientation = config.orientation
        let sink: @Sendable (RawFrame) -> Void = { [weak self] frame in
            self?.delivered.add(1, ordering: .relaxed)
            // A camera mounted upside down or mirrored is turned first: motion zones, overlay and files see it upright.
            orientation.apply(to: frame)
            // The camera's pulse is what it delivers, whatever is encoded from it (JPEGs only for viewers, say).
            meter.tick(frame.time.monotonicNanos)
            // Motion sees the picture before any overlay: the running clock is never motion.
            motion?.submit(frame)
            let h264 = self?.h264
            guard demand.isWanted else {
                demand.skipped.add(1, ordering: .relaxed)
                // Nobody wants a JPEG of it: the H.264 stream takes the frame itself (no copy where it can).
                if let h264 { h264.submit(handingOver: frame) } else { frame.storage.release() }
                return
            }
            // The H.264 stream takes its own copy before the JPEG encoders draw on the frame.
            h264?.submit(frame)
            let taken = lossless ? encoder.submitWaiting(frame) : encoder.submit(frame)
            if !taken { frame.storage.release() }
        }
        state.withLock { $0.sink = sink }
        try source.start(sink: sink)
        running.store(true, ordering: .releasing)
    }

    /// Stops capture, lets queued frames finish encoding, closes the bus (live streams end) and
    /// lets the recorder write what it has queued and finish its files.
    public func stop() {
        running.store(false, ordering: .releasing)
        sound?.stop()
        switching.withLock { _ in source.stop() }
        encoder.stop()
        motion?.stop()
        h264?.stop()
        bus.close()
        h264Bus.close()
        recorder?.stop()
    }

    /// Every stage of the pipeline as it runs now, for the watchdog: capture and the recorder's loop always move
    /// while the camera runs; the JPEG encoders, the H.264 encoder and the motion detector must move while they have
    /// frames waiting (JPEGs are made only for viewers when the camera records H.264; the H.264 encoder runs only
    /// for H.264 recording or live H.264 clients).
    public func progress() -> [StageProgress] {
        let id = config.id
        let on = running.load(ordering: .acquiring)
        var stages = [StageProgress(name: "\(id) capture", count: delivered.load(ordering: .relaxed), busy: on),
                      encoder.progress.stage("\(id) jpeg encoder")]
        if let h264 { stages.append(h264.progress.stage("\(id) h264 encoder")) }
        if let motion { stages.append(motion.progress.stage("\(id) motion detector")) }
        if let recorder { stages.append(StageProgress(name: "\(id) recorder", count: recorder.heartbeat.load(ordering: .relaxed), busy: on)) }
        return stages
    }

    /// Frames its source has captured since it started (without the rest of `status()`).
    public var framesCaptured: UInt64 { source.stats.captured.load(ordering: .relaxed) }

    /// A snapshot of the camera's state and counters.
    public func status() -> CameraStatus {
        let s = source.stats
        let e = encoder.stats
        let noBuffer = s.droppedNoBuffer.load(ordering: .relaxed)
        let busy = e.droppedBusy.load(ordering: .relaxed)
        let errors = e.errors.load(ordering: .relaxed)
        let late = s.late.load(ordering: .relaxed)
        let corrupt = e.corrupt.load(ordering: .relaxed)
        let deviceDropped = s.deviceDropped.load(ordering: .relaxed)
        let deviceErrors = s.deviceErrors.load(ordering: .relaxed)
        let times = e.encodeMillis()
        let now = MonotonicClock.nanos()
        // The newest frame of either codec: with H.264 recording and nobody watching, no JPEG is made.
        let last = [bus.latest, h264Bus.latest].compactMap { $0 }.max { $0.time.monotonicNanos < $1.time.monotonicNanos }
        let config = self.config
        return CameraStatus(
            id: config.id,
            source: source.description,
            state: running.load(ordering: .relaxed) ? source.health.state : "stopped",
            stateReason: running.load(ordering: .relaxed) ? source.health.reason : nil,
            width: config.geometry.width,
            height: config.geometry.height,
            configuredFps: config.geometry.fps,
            measuredFps: meter.rate(now: now),
            quality: encoder.settings.quality.load(ordering: .relaxed),
            overlay: encoder.settings.overlay.load(ordering: .relaxed),
            orientation: config.orientation.description,
            encoderWorkers: encoder.workerCount,
            framesCaptured: framesCaptured,
            framesEncoded: e.encoded.load(ordering: .relaxed),
            framesDropped: noBuffer + busy + errors + late + corrupt + deviceDropped + deviceErrors,
            drops: .init(noFreeBuffer: noBuffer, encoderBusy: busy, encodeErrors: errors, sourceLate: late,
                         corruptJPEG: corrupt, deviceDropped: deviceDropped, deviceErrors: deviceErrors),
            reconnects: s.reconnects.load(ordering: .relaxed),
            viewerSkippedFrames: bus.viewerSkipped,
            encodeMs: times.map { .init(mean: $0.mean, p99: $0.p99) },
            liveClients: jpegDemand.viewers.load(ordering: .relaxed) + state.withLock { $0.h264Viewers },
            liveStreams: live.status(),
            encoders: .init(jpeg: encoder.openEncoders.value, h264: h264Encoders.value),
            codec: codec,
            jpegOnDemand: !jpegDemand.always,
            jpegSkipped: jpegDemand.skipped.load(ordering: .relaxed),
            lastFrameAgeMs: last.map { Double(MonotonicClock.elapsed(from: $0.time.monotonicNanos, to: now)) / 1e6 },
            audio: sound?.status(),
            recording: recorder?.status(),
            recordMode: recordMode,
            motion: motion?.status(),
            h264: h264.map { h in
                H264Status(framesEncoded: h.stats.encoded.load(ordering: .relaxed), droppedBusy: h.stats.droppedBusy.load(ordering: .relaxed),
                           droppedUndecodable: h.droppedUndecodable.load(ordering: .relaxed), errors: h.stats.errors.load(ordering: .relaxed),
                           encodeMs: h.stats.encodeMillis().map { .init(mean: $0.mean, p99: $0.p99) }, liveOnly: !recordsH264)
            }
        )
    }
}
