import Encoding
import Evidence
import FrameBus
import Frames
import Platform
import Logging

/// The recorder's writer, on its own thread: every frame of the subscription goes to the segment being written (in
/// continuous mode), to the pre-roll ring and to the event clips being written. Its fields are the writer's state;
/// it lives and dies on that thread.
final class RecorderWriter {
    /// An event clip being written.
    private struct ActiveEvent {
        let file: MP4File
        /// Path below the root, as in the ticket.
        let relative: String
        var endMono: UInt64
        /// Why it was started.
        let reason: String
    }

    private let recorder: Recorder
    private var sub: FrameSubscription
    private let config: RecordingConfig
    private let camera: String
    private let segmentNanos: UInt64
    private let fragmentNanos: UInt64
    private let preNanos: UInt64
    private let cadence: FrameCadence
    private var ring: PreRoll
    /// The sound of the pre-roll (as long as the picture's ring reaches back).
    private var soundRing: [EncodedAudio] = []
    /// The metadata samples of the pre-roll (as far back as the picture's ring).
    private var metadataRing: [MetadataSample] = []
    /// Capture time of the newest sound unit taken (0: none yet).
    private var latestSound: UInt64 = 0
    private var segment: MP4File?
    /// The segment being written, open for reading: the pre-roll's written frames are read back from it.
    private var segmentReadBack: SegmentReadBack?
    private var events: [ActiveEvent] = []
    /// While a write failed, frames before this time are dropped (counted).
    private var retryAt: UInt64 = 0
    private var backoff = Backoff()
    private var lastRetention: UInt64 = 0
    /// The segments' chain, continued from the newest signed fragment on disk, across restarts.
    private let chain: FragmentChain?
    private let started = MonotonicClock.nanos()
    private var bytesSinceStart = 0
    /// The time-lapse interval in force (0: none), whether the segment being written is one, and its newest frame.
    private var timelapseNanos: UInt64 = 0
    private var segmentIsTimelapse = false
    private var lastLapseFrame: UInt64?

    /// A writer of `recorder`'s files, reading `subscription`.
    init(recorder: Recorder, subscription: FrameSubscription) {
        self.recorder = recorder
        sub = subscription
        config = recorder.config
        camera = recorder.camera
        segmentNanos = UInt64(config.segmentSeconds * 1e9)
        fragmentNanos = UInt64(config.fragmentSeconds * 1e9)
        preNanos = UInt64(config.eventPreSeconds * 1e9)
        cadence = FrameCadence(fps: recorder.fps)
        ring = PreRoll.forClips(config: config, fps: recorder.fps)
        chain = recorder.key.map { FragmentChain(id: recorder.camera, key: $0, after: Recorder.lastLink(chain: recorder.camera, root: recorder.config.root)) }
    }

    /// Writes until the subscription ends (the recorder stops), then finishes every file.
    func run() {
        let stall = FaultInjection.stall(.recorder)
        while true {
            recorder.heartbeat.add(1, ordering: .relaxed)
            stall?.hold(while: { !sub.isClosed })
            if let current = recorder.subscription.withLock({ $0 }), current !== sub {
                // Another codec: a track has one, so the files end here and the pre-roll starts over.
                finishSegment()
                advanceEvents(nil)
                ring = PreRoll(maxNanos: ring.maxNanos, maxFrames: ring.maxFrames, maxBytes: ring.maxBytes)
                sub = current
            }
            let frame = sub.next(timeoutNanos: 250_000_000)
            if frame == nil && sub.isFinished {
                if recorder.subscription.withLock({ $0 }) === sub { break }
                continue
            }
            let (want, newClip, lapse) = recorder.state.withLock { s -> (Bool, EventClipBook.Plan?, UInt64) in
                (s.wantRecording, frame == nil ? nil : s.clips.startNext(), s.timelapseNanos)
            }
            if (lapse > 0) != segmentIsTimelapse, segment != nil {
                // A time-lapse is a file of its own: the segment being written ends here.
                finishSegment()
            }
            timelapseNanos = lapse
            if !want && segment != nil {
                finishSegment()
                update { $0.state = .stopped }
            } else if !want {
                update { if $0.state == .error || $0.state == .paused { $0.state = .stopped; $0.lastError = nil } }
            }
            // Sound first: what was heard up to this picture goes into the files before a segment may end at it.
            takeSound()
            takeMetadata()
            if let frame {
                if let newClip, !startEvent(newClip, frame: frame) {
                    recorder.state.withLock { $0.clips.retry(newClip.file) }
                }
                ring.append(frame)
                let held = ring.seconds
                update { $0.preRollSeconds = held }
                if want { record(frame) }
            }
            advanceEvents(frame)
            let now = MonotonicClock.nanos()
            if now &- lastRetention > 5_000_000_000 {
                lastRetention = now
                let elapsed = Double(now &- started) / 1e9
                if elapsed > 1 { recorder.retention.report(rate: Double(bytesSinceStart) / elapsed, camera: camera) }
                recorder.retention.enforce(inUse: openFiles())
            }
        }
        finishSegment()
        advanceEvents(nil)
        update { $0.state = .stopped; $0.currentFile = nil }
    }

    /// Hands every queued sound unit to the segment, the open clips and the pre-roll's sound.
    private func takeSound() {
        guard recorder.audio != nil else { return }
        while let unit = recorder.soundQueue.tryTake() { handle(unit) }
        // The sound ring reaches as far back as the picture's.
        if let oldest = ring.oldestNanos {
            soundRing.removeFirst(soundRing.firstIndex { $0.monotonicNanos >= oldest } ?? soundRing.count)
        } else if ring.frames.isEmpty, soundRing.count > 512 {
            soundRing.removeFirst(soundRing.count - 512)
        }
    }

    /// Hands every queued metadata sample to the segment, the open clips and the pre-roll.
    private func takeMetadata() {
        guard recorder.metadata else { return }
        while let sample = recorder.metadataQueue.tryTake() {
            metadataRing.append(sample)
            for event in events { event.file.appendMetadata(sample) }
            if let segment, segment.appendMetadata(sample) { update { $0.metadataSamplesWritten += 1 } }
        }
        if let oldest = ring.oldestNanos {
            metadataRing.removeFirst(metadataRing.firstIndex { $0.monotonicNanos >= oldest } ?? metadataRing.count)
        } else if metadataRing.count > 64 {
            metadataRing.removeFirst(metadataRing.count - 64)
        }
    }

    private func handle(_ unit: EncodedAudio) {
        latestSound = unit.monotonicNanos
        soundRing.append(unit)
        for event in events { event.file.appendAudio(unit) }
        // Sound from before the segment's first picture belongs to no file (the one before has ended).
        guard let segment, unit.monotonicNanos >= segment.startTime.monotonicNanos else { return }
        let kept = segment.appendAudio(unit)
        update { if kept { $0.soundUnitsWritten += 1 } else { $0.soundUnitsDropped += 1 } }
    }

    /// Before a segment ends at a picture taken at `time`: waits (200 ms at most) for the sound up to it, which comes
    /// a little after the picture (the encoder's delay), so that the segment's sound ends where its pictures do.
    private func awaitSound(until time: UInt64) {
        guard let audio = recorder.audio, latestSound > 0, time &- latestSound < 1_000_000_000 else { return }
        let deadline = MonotonicClock.nanos() + 200_000_000
        while latestSound + audio.unitNanos < time {
            let now = MonotonicClock.nanos()
            guard now < deadline, let unit = recorder.soundQueue.take(timeoutNanos: deadline - now) else { return }
            handle(unit)
        }
    }

    private func update(_ body: (inout RecorderStatus) -> Void) { recorder.state.withLock { body(&$0.status) } }

    private func openFiles() -> Set<String> {
        var open = Set(events.map(\.file.partPath))
        if let s = segment { open.insert(s.partPath) }
        return open
    }

    /// Every write first makes room under the quota and above the floor; when no room may be made, the write is
    /// refused, so usage never exceeds the quota.
    private func makeRoom(_ bytes: Int) throws(RecordingError) {
        if let problem = recorder.retention.makeRoom(for: bytes, inUse: openFiles()) { throw RecordingError(noRoom: problem) }
    }

    private func segmentWrite(_ bytes: Int) throws(RecordingError) {
        try makeRoom(bytes)
        bytesSinceStart += bytes
        update { $0.bytesWritten += bytes }
    }

    private func fail(_ error: RecordingError, _ what: String, cut: MP4File? = nil) {
        let now = MonotonicClock.nanos()
        if let s = segment ?? cut {
            if segment != nil { s.abandon() }
            // Keep what reached the disk: cut the file back to its last whole fragment now.
            if let report = try? Recovery.recover(partPath: s.partPath), let path = report.finalPath {
                recorder.logger.notice("kept the segment cut by the error", metadata: ["file": "\(path)", "seconds": "\(report.seconds)"])
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
        recorder.logger.error("recording error; retrying in \(wait / 1_000_000_000) s",
                              metadata: ["camera": "\(camera)", "while": "\(what)", "error": "\(error)"])
        update { $0.state = .error; $0.lastError = error.description; $0.currentFile = nil }
        if error.isNoSpace { recorder.retention.enforce() }
    }

    private func announce(_ file: MP4File, path: String, kind: RecordingKind, reason: String?) {
        let start = file.startTime
        recorder.finished.publish(FinishedRecording(camera: camera, kind: kind, path: path, relative: String(path.dropFirst(config.root.count + 1)),
                                                    reason: reason, startEpoch: Double(start.wallSeconds) + Double(start.wallNanos) / 1e9,
                                                    seconds: file.seconds, bytes: file.bytesWritten))
    }

    private func finishSegment() {
        guard let s = segment else { return }
        segment = nil
        defer { segmentReadBack = nil }
        do {
            let path = try s.finish()
            spillWritten(s)
            update { $0.segments += 1; $0.currentFile = nil }
            announce(s, path: path, kind: .segment, reason: nil)
            recorder.logger.debug("segment finished", metadata: ["file": "\(path)", "seconds": "\(s.seconds)"])
        } catch {
            fail(error, "finishing \(s.partPath)", cut: s)
        }
    }

    private func record(_ frame: EncodedFrame) {
        let now = frame.time.monotonicNanos
        if now < retryAt {
            update { $0.droppedFrames += 1 }
            return
        }
        if timelapseNanos > 0 {
            // A time-lapse keeps keyframes only (each decodes alone), one per interval; the rest is not recorded
            // (not a drop: event clips still get every frame from the pre-roll).
            guard frame.isKeyframe, lastLapseFrame.map({ cadence.reached(now &- $0, timelapseNanos) }) ?? true else { return }
            lastLapseFrame = now
        }
        if let s = segment, frame.isKeyframe,
           cadence.reached(now &- s.startTime.monotonicNanos, segmentNanos) || s.width != frame.width || s.height != frame.height {
            // Segments end only where the next can start: at a keyframe. A size change (settings
            // applied at run time) starts a new file there too: a track has one size.
            awaitSound(until: now)
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
                let path = Recovery.uniquePath("\(config.root)/\(camera)/\(day)/\(stamp)_\(camera)\(timelapseNanos > 0 ? "_timelapse" : "").mp4")
                segmentIsTimelapse = timelapseNanos > 0
                segment = try MP4File(path: path, first: frame, codec: Recorder.trackCodec(frame), audio: recorder.audio, metadata: recorder.metadata,
                                      fragmentNanos: fragmentNanos,
                                      sync: config.sync, nominalFps: recorder.fps, chain: chain, keepsOffsets: true,
                                      beforeWrite: { [unowned self] bytes throws(RecordingError) in try segmentWrite(bytes) })
                segmentReadBack = SegmentReadBack(path: segment!.partPath)
                let relative = String(path.dropFirst(config.root.count + 1))
                update { $0.state = .recording; $0.currentFile = relative; $0.lastError = nil }
            }
            let kept = try segment!.append(frame)
            spillWritten(segment!)
            backoff.reset()
            update { if kept { $0.framesWritten += 1 } else { $0.droppedFrames += 1 } }
        } catch {
            fail(error, "writing")
        }
    }

    /// Lets the pre-roll drop the bytes of the frames `file` (the segment) has just written: a clip reads them back.
    private func spillWritten(_ file: MP4File) {
        let written = file.takeWritten()
        guard !written.isEmpty, let readBack = segmentReadBack else { return }
        ring.spill(written, to: readBack)
    }

    /// Starts the clip from the pre-roll's first keyframe; false when there is none yet (try again at the next frame).
    private func startEvent(_ plan: EventClipBook.Plan, frame: EncodedFrame) -> Bool {
        // `frame` itself is appended by advanceEvents, like every later frame.
        var preRoll = ring.clipStart(before: frame, preNanos: preNanos)
        let asked = preRoll.count
        // The first frame is read now (it makes the file); the others one by one as they are appended.
        var first = preRoll.first?.materialized()
        while !preRoll.isEmpty && first == nil {
            // A frame the segment no longer holds: the clip starts at the next keyframe that can be read.
            preRoll = preRoll.dropFirst().drop { !$0.frame.isKeyframe }
            first = preRoll.first?.materialized()
        }
        guard let seed = first ?? (frame.isKeyframe ? frame : nil) else { return false }
        let reason = plan.reason.isEmpty ? "event" : plan.reason
        do {
            let file = try MP4File(path: "\(config.root)/\(plan.file)", first: seed, codec: Recorder.trackCodec(seed), audio: recorder.audio,
                                   metadata: recorder.metadata, fragmentNanos: fragmentNanos,
                                   sync: config.sync, nominalFps: recorder.fps, comment: reason,
                                   chain: recorder.key.map { FragmentChain(id: Recorder.clipChainID(camera: camera, file: plan.file), key: $0) },
                                   beforeWrite: { [unowned self] bytes throws(RecordingError) in try makeRoom(bytes) })
            // The pre-roll's sound goes in beside its pictures, in time order.
            var sound = soundRing[...]
            var (waiting, unread) = (false, asked - preRoll.count)
            for (index, held) in zip(preRoll.indices, preRoll) {
                // Frames after one that could not be read wait for the next keyframe: nothing before it decodes.
                guard !waiting || held.frame.isKeyframe, let f = index == preRoll.startIndex ? seed : held.materialized() else {
                    (waiting, unread) = (true, unread + 1)
                    continue
                }
                waiting = false
                while let unit = sound.first, unit.monotonicNanos < f.time.monotonicNanos { file.appendAudio(unit); sound = sound.dropFirst() }
                try file.append(f)
            }
            for unit in sound { file.appendAudio(unit) }
            for sample in metadataRing { file.appendMetadata(sample) }
            if unread > 0 {
                recorder.logger.warning("pre-roll frames could not be read back from the segment; the clip leaves them out",
                                        metadata: ["file": "\(plan.file)", "frames": "\(unread)"])
            }
            events.append(ActiveEvent(file: file, relative: plan.file, endMono: plan.endMono, reason: reason))
            recorder.logger.info("event clip started", metadata: ["camera": "\(camera)", "file": "\(plan.file)", "reason": "\(plan.reason)"])
        } catch {
            recorder.state.withLock {
                $0.clips.close(plan.file)
                $0.protectedClips.remove(plan.file)
            }
            recorder.logger.error("event clip failed", metadata: ["camera": "\(camera)", "file": "\(plan.file)", "error": "\(error)"])
        }
        return true
    }

    /// Appends `frame` to every clip still open; finishes those that end (all of them when `frame` is nil).
    private func advanceEvents(_ frame: EncodedFrame?) {
        // Not `events.removeAll(where:)`: appending may call makeRoom, which reads `events`.
        var still: [ActiveEvent] = []
        for var event in events {
            do {
                if let frame {
                    // Events that arrived meanwhile may have moved the end (checked and closed in one step).
                    let ends = recorder.state.withLock { $0.clips.ends(event.relative, at: frame.time.monotonicNanos, end: &event.endMono) }
                    if !ends {
                        try event.file.append(frame)
                        still.append(event)
                        continue
                    }
                } else {
                    recorder.state.withLock { $0.clips.close(event.relative) }
                }
                let path = try event.file.finish()
                if recorder.state.withLock({ $0.protectedClips.remove(event.relative) != nil }) {
                    do {
                        try RecordingsTree.setProtected(path, true)
                    } catch {
                        recorder.logger.error("event clip could not be protected", metadata: ["file": "\(path)", "error": "\(error)"])
                    }
                }
                update { $0.events += 1 }
                announce(event.file, path: path, kind: .event, reason: event.reason)
                recorder.logger.info("event clip saved", metadata: ["file": "\(path)", "seconds": "\(event.file.seconds)"])
                let share = recorder.retention.eventQuotaBytes()
                if event.file.bytesWritten > share {
                    recorder.logger.warning("this event clip is larger than the event clips' share of the quota; it is kept, older clips make way",
                                            metadata: ["file": "\(path)", "clip": "\(event.file.bytesWritten >> 20) MiB", "share": "\(share >> 20) MiB"])
                }
            } catch {
                event.file.abandon()
                recorder.logger.error("event clip failed", metadata: ["file": "\(event.file.partPath)", "error": "\(error)"])
            }
        }
        events = still
        update { $0.activeEvents = events.count }
    }
}
