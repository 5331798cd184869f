import Encoding
import Evidence
import FrameBus
import Frames
import Platform
import Logging
import Synchronization

/// One camera's recorder: consumes every encoded frame on its own thread, writes segments,
/// keeps the pre-event ring and writes event clips. Never blocks the pipeline: its subscription
/// is bounded and counts what it drops while the disk is slow.
public final class Recorder: Sendable {
    /// Camera id.
    public let camera: String
    /// Settings.
    public let config: RecordingConfig
    /// Nominal frame rate.
    let fps: Int
    private let bus: FrameBus
    /// Loop overwrite of the recordings root.
    let retention: Retention
    /// Where the writer logs.
    let logger: Logger
    /// Signs every fragment into the camera's hash chain (nil: recordings are not signed).
    let key: DeviceKey?
    /// What the API's threads and the writer share.
    let state: Mutex<Shared>
    private let thread = Worker()
    /// The bus subscription the writer reads (replaced when the codec changes).
    let subscription: Mutex<FrameSubscription?> = Mutex(nil)
    /// Turns of the writer loop (at least 4 a second while it is alive): the watchdog's sign of life.
    public let heartbeat = Atomic<UInt64>(0)
    /// The camera's sound track format (nil: no sound).
    public let audio: AudioFormat?
    /// Sound units on their way to the writer: bounded (5 s), never waited on; what does not fit is counted.
    let soundQueue = BoundedQueue<EncodedAudio>(capacity: 256)
    /// Sound units the queue refused.
    let soundRefused = Atomic<UInt64>(0)
    /// Whether the files have a timed metadata track (the daemon reads a GPS or an accelerometer).
    public let metadata: Bool
    /// Metadata samples on their way to the writer: bounded (10 s of 100 Hz accelerometer readings, or many minutes of
    /// GPS reports), never waited on.
    let metadataQueue = BoundedQueue<MetadataSample>(capacity: 1024)
    /// Metadata samples the queue refused.
    let metadataRefused = Atomic<UInt64>(0)
    /// Whether the car is parked: a clip that nobody asked for is then a parking clip.
    let parked = Atomic<Bool>(false)
    /// Every segment and event clip finished, on the writer's thread (observers hand it on at once).
    public let finished = Observers<FinishedRecording>()

    /// What the API's threads and the writer share.
    struct Shared {
        /// Whether segments are written (continuous mode).
        var wantRecording: Bool
        /// While parked with a time-lapse: continuous segments keep one keyframe every this long (0: every frame).
        var timelapseNanos: UInt64 = 0
        /// The event clip rules and the clip open to extension.
        var clips: EventClipBook
        /// What `/api/status` shows.
        var status: RecorderStatus
        /// Event clips to be protected from loop overwrite once written (an impact's).
        var protectedClips: Set<String> = []
    }

    /// Creates a recorder for `camera`'s bus (started by `start()`).
    public init(camera: String, fps: Int, bus: FrameBus, config: RecordingConfig, retention: Retention, logger: Logger, key: DeviceKey? = nil,
                audio: AudioFormat? = nil, metadata: Bool = false) {
        self.camera = camera
        self.audio = audio
        self.metadata = metadata
        self.key = key
        self.fps = fps
        self.bus = bus
        self.config = config
        self.retention = retention
        self.logger = logger
        state = Mutex(Shared(wantRecording: config.enabled, clips: EventClipBook(camera: camera, config: config), status: RecorderStatus(
            enabled: config.enabled, state: .stopped, currentFile: nil, bytesWritten: 0, framesWritten: 0, segments: 0,
            droppedFrames: 0, activeEvents: 0, events: 0, lastError: nil)))
    }

    /// Subscribes to the bus and starts the writer thread.
    public func start() {
        subscription.withLock { s in
            if s == nil { s = bus.subscribe(capacity: max(8, fps * 2)) }
        }
        thread.start(name: "rec-\(camera)") { [self] in
            guard let sub = subscription.withLock({ $0 }) else { return }
            RecorderWriter(recorder: self, subscription: sub).run()
        }
    }

    /// Records from `newBus` from now on (the camera's codec changed): the segment being written
    /// ends, and the next starts at the first keyframe of the new stream.
    public func use(_ newBus: FrameBus) {
        let sub = newBus.subscribe(capacity: max(8, fps * 2))
        let old = subscription.withLock { s -> FrameSubscription? in
            defer { s = sub }
            return s
        }
        if let old {
            state.withLock { $0.status.droppedFrames += old.dropped.load(ordering: .relaxed) }
            old.cancel()
        }
    }

    /// Takes a sound unit for the files being written (any thread; never blocks: a full queue drops it, counted).
    public func takeAudio(_ unit: EncodedAudio) {
        guard audio != nil else { return }
        if !soundQueue.offer(unit) { soundRefused.add(1, ordering: .relaxed) }
    }

    /// Takes a metadata sample (a GPS report, an accelerometer reading) for the files being written (any thread; never blocks: a full queue drops
    /// it, counted).
    public func takeMetadata(_ sample: MetadataSample) {
        guard metadata else { return }
        if !metadataQueue.offer(sample) { metadataRefused.add(1, ordering: .relaxed) }
    }

    /// Stops after writing what is queued; finishes the segment and any event clip. Waits for the thread.
    public func stop() {
        subscription.withLock { $0 }?.cancel()
        thread.stop()
    }

    /// Switches continuous recording on or off (event clips work either way).
    public func setRecording(_ on: Bool) {
        state.withLock { $0.wantRecording = on; $0.status.enabled = on }
    }

    /// Requests an event clip: pre-roll from memory plus post-roll from now. While a clip of this
    /// camera is open (asked for or being written), the event extends it instead, up to
    /// `eventMaxSeconds`: a burst of requests writes one clip, not one per request. With `protect`, the clip is
    /// protected from loop overwrite when it is written (as a dashcam locks an impact's file). A new clip's
    /// kind is `manual` when someone asked for it, `parking` while parked, else `event`.
    public func triggerEvent(reason rawReason: String, now: CaptureTime = .now(), protect: Bool = false, manual: Bool = false) -> EventTicket {
        // The reason reaches the log and the clip's metadata: control characters never do, raw.
        let reason = String(String.UnicodeScalarView(rawReason.unicodeScalars.prefix(200).map {
            $0.properties.generalCategory == .control ? "\u{FFFD}" : $0
        }))
        let (file, extended) = state.withLock { s -> (String, Bool) in
            let answer = s.clips.request(reason: reason, now: now, kind: manual ? .manual : parked.load(ordering: .relaxed) ? .parking : .event)
            if answer.extended { s.status.eventsMerged += 1 }
            if protect { s.protectedClips.insert(answer.file) }
            return answer
        }
        return EventTicket(camera: camera, reason: reason, file: file, preRollSeconds: config.eventPreSeconds,
                           postRollSeconds: config.eventPostSeconds, extended: extended)
    }

    /// Records continuous segments as a time-lapse from now on: one keyframe every `seconds` (nil: every frame again), in
    /// files of their own named `…_timelapse.mp4`. Keyframes come every fragment, so a frame is kept at most that often.
    public func setTimelapse(seconds: Double?) {
        state.withLock {
            $0.timelapseNanos = seconds.map { UInt64(max(0, $0) * 1e9) } ?? 0
            $0.status.timelapseSeconds = seconds
        }
    }

    /// Marks the clips from now on as saved while parked (or not).
    public func setParked(_ on: Bool) {
        parked.store(on, ordering: .relaxed)
    }

    /// Current state and counters.
    public func status() -> RecorderStatus {
        let dropped = subscription.withLock { $0?.dropped.load(ordering: .relaxed) ?? 0 }
        var s = state.withLock { $0.status }
        s.droppedFrames += dropped
        s.soundUnitsDropped += soundRefused.load(ordering: .relaxed)
        s.metadataSamplesDropped += metadataRefused.load(ordering: .relaxed)
        return s
    }

    /// The MP4 track codec of a stream, from one of its frames.
    static func trackCodec(_ frame: EncodedFrame) -> TrackCodec {
        if frame.codec == .h264, let sets = frame.parameterSets { return .h264(sets) }
        return .mjpeg
    }

    /// Chain id of an event clip: each clip is a chain of its own (clips may overlap in time).
    static func clipChainID(camera: String, file: String) -> String {
        let name = file.split(separator: "/").last.map { String($0.dropLast(4)) } ?? file
        return "\(camera)/event/\(name)"
    }

    /// The newest signed link of `chain` among the camera's newest segments (by name, and by
    /// modification time in case the clock went back), nil when there is none.
    static func lastLink(chain: String, root: String) -> ChainLink? {
        let files = RecordingsTree.files(under: "\(root)/\(chain)").filter { $0.isVideo || $0.isPartial }
        let candidates = files.sorted { $0.relative > $1.relative }.prefix(3) + files.sorted { $0.modified > $1.modified }.prefix(2)
        return candidates.compactMap { file in
            (try? MP4Reader.scan(path: file.path))?.fragments.last { $0.link?.chainID == chain }?.link
        }.max { $0.index < $1.index }
    }
}
