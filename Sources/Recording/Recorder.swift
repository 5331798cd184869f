import Encoding
import Evidence
import FrameBus
import Frames
import Logging
import Synchronization

/// Recording settings shared by every camera.
public struct RecordingConfig: Sendable, Equatable {
    /// Folder holding `<camera>/<day>/…mp4` and `events/<camera>/<day>/…mp4`.
    public var root = "recordings"
    /// Whether recording starts at launch.
    public var enabled = true
    /// Length of a segment.
    public var segmentSeconds = 60.0
    /// Length of a fragment (the most a power cut can lose).
    public var fragmentSeconds = 1.0
    /// When fragments are synced to the device.
    public var sync = SyncPolicy.everyFragment
    /// Quota of the whole recordings root.
    public var quota = Quota.percent(50)
    /// Free space always kept on the filesystem.
    public var minFreeBytes = 256 << 20
    /// Event clip pre-roll.
    public var eventPreSeconds = 10.0
    /// Event clip post-roll.
    public var eventPostSeconds = 20.0
    /// Share of the quota for event clips.
    public var eventShare = 0.3
    /// Longest an event clip grows when more events extend it; a later event starts a new clip.
    public var eventMaxSeconds = 300.0
    /// The codec recordings are written in: H.264, measured at a sixth to a seventh of MJPEG's bytes
    /// for about 1.6x the daemon's CPU at 720p30 with nobody watching (bench/codecs.sh, bench/daemon_cpu.sh).
    public var codec = VideoCodec.h264
    /// What is recorded: everything, only event clips (motion and requests), or nothing.
    public var mode = RecordingMode.continuous

    /// Defaults: 60 s segments, 1 s fragments synced each, 50 % quota, 10 s + 20 s events.
    public init() {}

    /// Throws a message naming the first setting out of range.
    public func validate() throws(RecordingError) {
        guard (1...3600).contains(segmentSeconds) else { throw RecordingError("segment length \(segmentSeconds) s is out of range; allowed: 1 to 3600") }
        guard fragmentSeconds >= 0.1, fragmentSeconds <= segmentSeconds else {
            throw RecordingError("fragment length \(fragmentSeconds) s is out of range; allowed: 0.1 s up to the segment length")
        }
        guard (0...300).contains(eventPreSeconds), (0...3600).contains(eventPostSeconds) else {
            throw RecordingError("event pre-roll must be 0 to 300 s and post-roll 0 to 3600 s")
        }
        guard eventMaxSeconds >= eventPreSeconds + eventPostSeconds, eventMaxSeconds <= 7200 else {
            throw RecordingError("event clip maximum \(eventMaxSeconds) s is out of range; allowed: pre-roll + post-roll (\(eventPreSeconds + eventPostSeconds) s) to 7200")
        }
        guard eventShare > 0, eventShare < 1 else { throw RecordingError("event share \(eventShare) is out of range; allowed: above 0 and below 1") }
    }
}

/// What a camera records (`[recording] mode`, `--record-mode`).
public enum RecordingMode: String, Codable, Sendable, CaseIterable {
    /// Every second, in segments, plus event clips.
    case continuous
    /// Only event clips: motion starts and extends them (parking mode, CCTV that keeps weeks on a small card).
    case motion
    /// Nothing but clips asked for through the API.
    case off
}

/// What a camera's recorder is doing (the JSON of `/api/status` spells the cases as they are named).
public enum RecorderState: String, Codable, Sendable {
    /// Writing segments.
    case recording
    /// Switched off (event clips still work).
    case stopped
    /// A disk error; retrying with backoff.
    case error
    /// No room may be made (disk filled by others, or the quota full of protected clips); retrying.
    case paused
}

/// What `/api/status` reports about one camera's recording.
public struct RecorderStatus: Codable, Sendable {
    /// Whether recording is switched on.
    public var enabled: Bool
    /// What the recorder is doing.
    public var state: RecorderState
    /// Segment being written, relative to the root.
    public var currentFile: String?
    /// Bytes written since launch.
    public var bytesWritten: Int
    /// Frames written since launch.
    public var framesWritten: Int
    /// Segments finished since launch.
    public var segments: Int
    /// Frames not recorded: queue full (disk too slow) or disk failing.
    public var droppedFrames: UInt64
    /// Event clips being written now.
    public var activeEvents: Int
    /// Event clips finished since launch.
    public var events: Int
    /// Events that extended a clip already being written instead of starting another.
    public var eventsMerged: Int = 0
    /// The last disk error, while it lasts.
    public var lastError: String?
}

/// An event clip just requested.
public struct EventTicket: Codable, Sendable {
    /// Camera id.
    public var camera: String
    /// Why (from the request).
    public var reason: String
    /// Where the clip will be, relative to the root.
    public var file: String
    /// Seconds before the request included.
    public var preRollSeconds: Double
    /// Seconds after the request included.
    public var postRollSeconds: Double
    /// Whether the event extended a clip already being written (same `file`).
    public var extended: Bool = false
}

/// One camera's recorder: consumes every encoded frame on its own thread, writes segments,
/// keeps the pre-event ring and writes event clips. Never blocks the pipeline: its subscription
/// is bounded and counts what it drops while the disk is slow.
public final class Recorder: Sendable {
    /// Camera id.
    public let camera: String
    /// Settings.
    public let config: RecordingConfig
    private let fps: Int
    private let bus: FrameBus
    private let retention: Retention
    private let logger: Logger
    /// Signs every fragment into the camera's hash chain (nil: recordings are not signed).
    private let key: DeviceKey?
    private let state: Mutex<Shared>
    private let thread = Mutex<DedicatedThread?>(nil)
    private let subscription: Mutex<FrameSubscription?> = Mutex(nil)
    /// Turns of the writer loop (at least 4 a second while it is alive): the watchdog's sign of life.
    public let heartbeat = Atomic<UInt64>(0)
    /// Every segment and event clip finished, on the writer's thread (observers hand it on at once).
    public let finished = Observers<FinishedRecording>()

    /// An event clip asked for or being written: events while it is open move its end.
    private struct ClipPlan {
        let file: String
        let reason: String
        /// Monotonic time of the first event; the clip may not grow past it + `eventMaxSeconds`.
        let firstMono: UInt64
        var endMono: UInt64
        var started = false
    }

    private struct Shared {
        var wantRecording: Bool
        /// The newest clip (requested or being written); older ones finish on their own.
        var clip: ClipPlan?
        var lastEventStamp = ""
        var eventCounter = 0
        var status: RecorderStatus
    }

    /// Creates a recorder for `camera`'s bus (started by `start()`).
    public init(camera: String, fps: Int, bus: FrameBus, config: RecordingConfig, retention: Retention, logger: Logger, key: DeviceKey? = nil) {
        self.camera = camera
        self.key = key
        self.fps = fps
        self.bus = bus
        self.config = config
        self.retention = retention
        self.logger = logger
        state = Mutex(Shared(wantRecording: config.enabled, status: RecorderStatus(
            enabled: config.enabled, state: .stopped, currentFile: nil, bytesWritten: 0, framesWritten: 0, segments: 0,
            droppedFrames: 0, activeEvents: 0, events: 0, lastError: nil)))
    }

    /// Subscribes to the bus and starts the writer thread.
    public func start() {
        subscription.withLock { s in
            if s == nil { s = bus.subscribe(capacity: max(8, fps * 2)) }
        }
        thread.withLock { t in
            t = DedicatedThread(name: "rec-\(camera)") { [self] in run() }
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

    /// Stops after writing what is queued; finishes the segment and any event clip. Waits for the thread.
    public func stop() {
        subscription.withLock { $0 }?.cancel()
        thread.takeAndJoin()
    }

    /// Switches continuous recording on or off (event clips work either way).
    public func setRecording(_ on: Bool) {
        state.withLock { $0.wantRecording = on; $0.status.enabled = on }
    }

    /// Requests an event clip: pre-roll from memory plus post-roll from now. While a clip of this
    /// camera is open (asked for or being written), the event extends it instead, up to
    /// `eventMaxSeconds`: a burst of requests writes one clip, not one per request.
    public func triggerEvent(reason rawReason: String, now: CaptureTime = .now()) -> EventTicket {
        // The reason reaches the log and the clip's metadata: control characters never do, raw.
        let reason = String(String.UnicodeScalarView(rawReason.unicodeScalars.prefix(200).map {
            $0.properties.generalCategory == .control ? "\u{FFFD}" : $0
        }))
        let postNanos = UInt64(config.eventPostSeconds * 1e9)
        let maxNanos = UInt64(config.eventMaxSeconds * 1e9) &- UInt64(config.eventPreSeconds * 1e9)
        let end = now.monotonicNanos + postNanos
        let (day, stamp) = LocalTime.stamp(now.wallSeconds)
        let (file, extended) = state.withLock { s -> (String, Bool) in
            if var clip = s.clip, end <= clip.firstMono + maxNanos {
                clip.endMono = max(clip.endMono, end)
                s.clip = clip
                s.status.eventsMerged += 1
                return (clip.file, true)
            }
            s.eventCounter = s.lastEventStamp == stamp ? s.eventCounter + 1 : 0
            s.lastEventStamp = stamp
            let suffix = s.eventCounter == 0 ? "" : "-\(s.eventCounter)"
            let file = "events/\(camera)/\(day)/\(stamp)_\(camera)_event\(suffix).mp4"
            s.clip = ClipPlan(file: file, reason: reason, firstMono: now.monotonicNanos, endMono: end)
            return (file, false)
        }
        return EventTicket(camera: camera, reason: reason, file: file, preRollSeconds: config.eventPreSeconds,
                           postRollSeconds: config.eventPostSeconds, extended: extended)
    }

    /// Current state and counters.
    public func status() -> RecorderStatus {
        let dropped = subscription.withLock { $0?.dropped.load(ordering: .relaxed) ?? 0 }
        var s = state.withLock { $0.status }
        s.droppedFrames += dropped
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

    // MARK: - writer thread

    private struct ActiveEvent {
        let file: MP4File
        /// Path below the root, as in the ticket.
        let relative: String
        var endMono: UInt64
        /// Why it was started.
        let reason: String
    }

    private func run() {
        guard var sub = subscription.withLock({ $0 }) else { return }
        let segmentNanos = UInt64(config.segmentSeconds * 1e9)
        let fragmentNanos = UInt64(config.fragmentSeconds * 1e9)
        let cadence = FrameCadence(fps: fps)
        let preNanos = UInt64(config.eventPreSeconds * 1e9)
        // The ring reaches one fragment further back than the pre-roll: a clip starts at the keyframe
        // before the pre-roll's start (H.264 has one per fragment; every JPEG is one).
        let ringSeconds = config.eventPreSeconds + config.fragmentSeconds
        var ring = PreRoll(maxNanos: UInt64(ringSeconds * 1e9), maxFrames: max(1, Int(Double(fps) * ringSeconds) + fps), maxBytes: 512 << 20)
        var segment: MP4File?
        var events: [ActiveEvent] = []
        var retryAt: UInt64 = 0
        var backoff = Backoff()
        var lastRetention: UInt64 = 0
        // The segments' chain continues from the newest signed fragment on disk, across restarts.
        let chain = key.map { FragmentChain(id: camera, key: $0, after: Self.lastLink(chain: camera, root: config.root)) }
        let started = MonotonicClock.nanos()
        var bytesSinceStart = 0

        func update(_ body: (inout RecorderStatus) -> Void) { state.withLock { body(&$0.status) } }

        func openFiles() -> Set<String> {
            var open = Set(events.map(\.file.partPath))
            if let s = segment { open.insert(s.partPath) }
            return open
        }

        // Every write first makes room under the quota and above the floor; when no room may be
        // made, the write is refused, so usage never exceeds the quota.
        let makeRoom: (Int) throws(RecordingError) -> Void = { [retention] bytes throws(RecordingError) in
            if let problem = retention.makeRoom(for: bytes, inUse: openFiles()) { throw RecordingError(noRoom: problem) }
        }
        let segmentWrite: (Int) throws(RecordingError) -> Void = { bytes throws(RecordingError) in
            try makeRoom(bytes)
            bytesSinceStart += bytes
            update { $0.bytesWritten += bytes }
        }

        func fail(_ error: RecordingError, _ what: String, cut: MP4File? = nil) {
            let now = MonotonicClock.nanos()
            if let s = segment ?? cut {
                if segment != nil { s.abandon() }
                // Keep what reached the disk: cut the file back to its last whole fragment now.
                if let report = try? Recovery.recover(partPath: s.partPath), let path = report.finalPath {
                    logger.notice("kept the segment cut by the error", metadata: ["file": "\(path)", "seconds": "\(report.seconds)"])
                }
                segment = nil
            }
            if error.isNoRoom {
                // Retention logged why, once; look again soon so recording resumes by itself.
                retryAt = now + 2_000_000_000
                update { $0.state = .paused; $0.lastError = error.description; $0.currentFile = nil }
                return
            }
            let wait = backoff.next()
            retryAt = now + wait
            logger.error("recording error; retrying in \(wait / 1_000_000_000) s", metadata: ["camera": "\(camera)", "while": "\(what)", "error": "\(error)"])
            update { $0.state = .error; $0.lastError = error.description; $0.currentFile = nil }
            if error.isNoSpace { retention.enforce() }
        }

        func announce(_ file: MP4File, path: String, kind: RecordingKind, reason: String?) {
            let start = file.startTime
            finished.publish(FinishedRecording(camera: camera, kind: kind, path: path, relative: String(path.dropFirst(config.root.count + 1)),
                                               reason: reason, startEpoch: Double(start.wallSeconds) + Double(start.wallNanos) / 1e9,
                                               seconds: file.seconds, bytes: file.bytesWritten))
        }

        func finishSegment() {
            guard let s = segment else { return }
            segment = nil
            do {
                let path = try s.finish()
                update { $0.segments += 1; $0.currentFile = nil }
                announce(s, path: path, kind: .segment, reason: nil)
                logger.debug("segment finished", metadata: ["file": "\(path)", "seconds": "\(s.seconds)"])
            } catch {
                fail(error, "finishing \(s.partPath)", cut: s)
            }
        }

        func record(_ frame: EncodedFrame) {
            let now = frame.time.monotonicNanos
            if now < retryAt {
                update { $0.droppedFrames += 1 }
                return
            }
            if let s = segment, frame.isKeyframe,
               cadence.reached(now &- s.startTime.monotonicNanos, segmentNanos) || s.width != frame.width || s.height != frame.height {
                // Segments end only where the next can start: at a keyframe. A size change (settings
                // applied at run time) starts a new file there too: a track has one size.
                finishSegment()
            }
            do {
                if segment == nil {
                    // A file starts with a picture that decodes on its own.
                    guard frame.isKeyframe else {
                        update { $0.droppedFrames += 1 }
                        return
                    }
                    let (day, stamp) = LocalTime.stamp(frame.time.wallSeconds)
                    let path = Recovery.uniquePath("\(config.root)/\(camera)/\(day)/\(stamp)_\(camera).mp4")
                    segment = try MP4File(path: path, first: frame, codec: Self.trackCodec(frame), fragmentNanos: fragmentNanos,
                                          sync: config.sync, nominalFps: fps, chain: chain, beforeWrite: segmentWrite)
                    let relative = String(path.dropFirst(config.root.count + 1))
                    update { $0.state = .recording; $0.currentFile = relative; $0.lastError = nil }
                }
                let open = segment!
                let kept = try open.append(frame)
                backoff.reset()
                update { if kept { $0.framesWritten += 1 } else { $0.droppedFrames += 1 } }
            } catch {
                fail(error, "writing")
            }
        }

        /// Starts the clip from the pre-roll's first keyframe; false when there is none yet (try again at the next frame).
        func startEvent(_ plan: ClipPlan, frame: EncodedFrame) -> Bool {
            // `frame` itself is appended by advanceEvents, like every later frame.
            let from = frame.time.monotonicNanos &- preNanos
            let start = ring.frames.lastIndex { $0.isKeyframe && $0.time.monotonicNanos <= from }
                ?? ring.frames.firstIndex { $0.isKeyframe } ?? ring.frames.endIndex
            let preRoll = ring.frames[start...]
            guard let seed = preRoll.first ?? (frame.isKeyframe ? frame : nil) else { return false }
            do {
                let file = try MP4File(path: "\(config.root)/\(plan.file)", first: seed, codec: Self.trackCodec(seed), fragmentNanos: fragmentNanos,
                                       sync: config.sync, nominalFps: fps, comment: plan.reason.isEmpty ? "event" : plan.reason,
                                       chain: key.map { FragmentChain(id: Self.clipChainID(camera: camera, file: plan.file), key: $0) },
                                       beforeWrite: makeRoom)
                for f in preRoll { try file.append(f) }
                events.append(ActiveEvent(file: file, relative: plan.file, endMono: plan.endMono, reason: plan.reason.isEmpty ? "event" : plan.reason))
                logger.info("event clip started", metadata: ["camera": "\(camera)", "file": "\(plan.file)", "reason": "\(plan.reason)"])
            } catch {
                state.withLock { s in if s.clip?.file == plan.file { s.clip = nil } }
                logger.error("event clip failed", metadata: ["camera": "\(camera)", "file": "\(plan.file)", "error": "\(error)"])
            }
            return true
        }

        func advanceEvents(_ frame: EncodedFrame?) {
            // Not `events.removeAll(where:)`: appending may call makeRoom, which reads `events`.
            var still: [ActiveEvent] = []
            for var event in events {
                do {
                    if let frame {
                        // Events that arrived meanwhile may have moved the end; a clip that ends is
                        // no longer open to extension (checked and cleared in one step).
                        let ends = state.withLock { s -> Bool in
                            if let clip = s.clip, clip.file == event.relative {
                                event.endMono = clip.endMono
                                if frame.time.monotonicNanos < clip.endMono { return false }
                                s.clip = nil
                                return true
                            }
                            return frame.time.monotonicNanos >= event.endMono
                        }
                        if !ends {
                            try event.file.append(frame)
                            still.append(event)
                            continue
                        }
                    } else {
                        state.withLock { s in if s.clip?.file == event.relative { s.clip = nil } }
                    }
                    let path = try event.file.finish()
                    update { $0.events += 1 }
                    announce(event.file, path: path, kind: .event, reason: event.reason)
                    logger.info("event clip saved", metadata: ["file": "\(path)", "seconds": "\(event.file.seconds)"])
                    let share = retention.eventQuotaBytes()
                    if event.file.bytesWritten > share {
                        logger.warning("this event clip is larger than the event clips' share of the quota; it is kept, older clips make way",
                                       metadata: ["file": "\(path)", "clip": "\(event.file.bytesWritten >> 20) MiB", "share": "\(share >> 20) MiB"])
                    }
                } catch {
                    event.file.abandon()
                    logger.error("event clip failed", metadata: ["file": "\(event.file.partPath)", "error": "\(error)"])
                }
            }
            events = still
            update { $0.activeEvents = events.count }
        }

        let stall = FaultInjection.stall(.recorder)
        while true {
            heartbeat.add(1, ordering: .relaxed)
            stall?.hold(while: { !sub.isClosed })
            if let current = subscription.withLock({ $0 }), current !== sub {
                // Another codec: a track has one, so the files end here and the pre-roll starts over.
                finishSegment()
                advanceEvents(nil)
                ring = PreRoll(maxNanos: ring.maxNanos, maxFrames: ring.maxFrames, maxBytes: ring.maxBytes)
                sub = current
            }
            let frame = sub.next(timeoutNanos: 250_000_000)
            if frame == nil && sub.isFinished {
                if subscription.withLock({ $0 }) === sub { break }
                continue
            }
            let (want, newClip) = state.withLock { s -> (Bool, ClipPlan?) in
                guard frame != nil, let clip = s.clip, !clip.started else { return (s.wantRecording, nil) }
                s.clip?.started = true
                return (s.wantRecording, clip)
            }
            if !want && segment != nil {
                finishSegment()
                update { $0.state = .stopped }
            } else if !want {
                update { if $0.state == .error || $0.state == .paused { $0.state = .stopped; $0.lastError = nil } }
            }
            if let frame {
                if let newClip, !startEvent(newClip, frame: frame) {
                    state.withLock { s in if s.clip?.file == newClip.file { s.clip?.started = false } }
                }
                ring.append(frame)
                if want { record(frame) }
            }
            advanceEvents(frame)
            let now = MonotonicClock.nanos()
            if now &- lastRetention > 5_000_000_000 {
                lastRetention = now
                let elapsed = Double(now &- started) / 1e9
                if elapsed > 1 { retention.report(rate: Double(bytesSinceStart) / elapsed, camera: camera) }
                retention.enforce(inUse: openFiles())
            }
        }
        finishSegment()
        advanceEvents(nil)
        update { $0.state = .stopped; $0.currentFile = nil }
    }
}

/// The last few seconds of encoded frames, kept for event pre-roll (bounded by time, count and bytes).
struct PreRoll {
    let maxNanos: UInt64
    let maxFrames: Int
    let maxBytes: Int
    private(set) var frames: [EncodedFrame] = []
    private var bytes = 0

    init(maxNanos: UInt64, maxFrames: Int, maxBytes: Int) {
        self.maxNanos = maxNanos
        self.maxFrames = maxFrames
        self.maxBytes = maxBytes
    }

    mutating func append(_ frame: EncodedFrame) {
        frames.append(frame)
        bytes += frame.bytes.readableBytes
        var drop = 0
        while drop < frames.count - 1,
              frames.count - drop > maxFrames || bytes > maxBytes
                || frame.time.monotonicNanos &- frames[drop].time.monotonicNanos > maxNanos {
            bytes -= frames[drop].bytes.readableBytes
            drop += 1
        }
        if drop > 0 { frames.removeFirst(drop) }
    }
}
