import AudioGlue
import Encoding
import Frames
import Logging
import Platform
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One camera's sound: an ALSA microphone (or the test click) encoded to AAC-LC by GStreamer on a thread of its own,
/// each unit handed to `sink` stamped with its capture time on the cameras' clock. A device that is missing or fails
/// is reopened with backoff; nothing here waits on the camera, and the sink must not block (the recorder's is a
/// bounded queue that counts what it drops).
public final class AudioCapture: AudioSource {
    /// Camera the sound belongs to.
    public let camera: String
    /// Where the sound comes from.
    public let input: AudioInput
    /// Rate, channels, bit rate.
    public let format: AudioFormat
    private let flash: SyncFlash?
    private let logger: Logger
    private let sink: @Sendable (EncodedAudio) -> Void
    private let worker = Worker()
    private let state: Mutex<AudioStatus>
    /// The pipeline running now, for muting from the API's threads (closed only under this lock).
    private let pipeline = Mutex<UncheckedSendable<OpaquePointer>?>(nil)

    /// A capture of `input` for `camera`; with `flash`, the test click sounds when the test pattern flashes.
    public init(camera: String, input: AudioInput, format: AudioFormat, flash: SyncFlash?, muted: Bool = false, logger: Logger,
                sink: @escaping @Sendable (EncodedAudio) -> Void) {
        self.camera = camera
        self.input = input
        self.format = format
        self.flash = flash
        self.logger = logger
        self.sink = sink
        var status = AudioStatus(input: input, format: format)
        status.muted = muted
        state = Mutex(status)
    }

    /// Mutes or unmutes: muted, silence is recorded (the track goes on, and the muted span shows as silence).
    public func setMuted(_ muted: Bool) {
        state.withLock { $0.muted = muted }
        pipeline.withLock { if let p = $0 { bb_audio_set_mute(p.value, muted ? 1 : 0) } }
    }

    /// Starts the capture thread.
    public func start() {
        _ = worker.start(name: "aud-\(camera)") { [self] in run() }
    }

    /// Stops the thread and releases the device.
    public func stop() {
        worker.stop()
        state.withLock { $0.state = .stopped; $0.reason = nil; $0.peakDBFS = nil }
    }

    /// Counters and state.
    public func status() -> AudioStatus { state.withLock { $0 } }

    /// The ALSA capture devices, as (device, name); an error when GStreamer's ALSA plugin is missing.
    public static func devices() -> Result<[(device: String, name: String)], AudioCaptureError> {
        var lines: UnsafeMutablePointer<CChar>?
        var error: UnsafeMutablePointer<CChar>?
        let count = bb_audio_list(&lines, &error)
        defer { free(lines); free(error) }
        if count < 0 { return .failure(AudioCaptureError(error.map { String(cString: $0) } ?? "unknown")) }
        let text = lines.map { String(cString: $0) } ?? ""
        return .success(text.split(separator: "\n").map { line in
            let parts = line.split(separator: "\t", maxSplits: 1).map(String.init)
            return (parts[0], parts.count > 1 ? parts[1] : "")
        })
    }

    private func run() {
        var backoff = Backoff()
        var lastReason: String?
        var everOpened = false
        while worker.isRunning {
            var error: UnsafeMutablePointer<CChar>?
            let device: String? = if case .alsa(let name) = input { name } else { nil }
            let muted = state.withLock { $0.muted }
            guard let opened = bb_audio_open(device, Int32(format.sampleRate), Int32(format.bitrate), muted ? 1 : 0, &error) else {
                let reason = error.map { String(cString: $0) } ?? "the sound device did not start"
                free(error)
                if reason != lastReason {
                    logger.warning("no sound; retrying", metadata: ["camera": "\(camera)", "input": "\(input)", "reason": "\(reason)"])
                    lastReason = reason
                }
                state.withLock { $0.state = .noDevice; $0.reason = reason }
                sleep(nanos: backoff.next())
                continue
            }
            if everOpened { state.withLock { $0.reopens += 1 } }
            everOpened = true
            // Registered for setMuted; a mute asked for while it opened is applied here.
            pipeline.withLock { $0 = UncheckedSendable(opened) }
            bb_audio_set_mute(opened, state.withLock { $0.muted } ? 1 : 0)
            let clicks = input == .testClick ? startClicks(opened) : nil
            let reason = pull(opened, backoff: &backoff)
            clicks?.stop()
            pipeline.withLock { $0 = nil; bb_audio_close(opened) }
            guard worker.isRunning else { break }
            logger.warning("sound lost; reopening", metadata: ["camera": "\(camera)", "input": "\(input)", "reason": "\(reason)"])
            lastReason = reason
            state.withLock { $0.state = .noDevice; $0.reason = reason; $0.gaps += 1 }
            sleep(nanos: backoff.next())
        }
    }

    /// Hands on units until the pipeline fails or the capture stops; returns why it ended.
    private func pull(_ pipeline: OpaquePointer, backoff: inout Backoff) -> String {
        // The encoder's first unit is its priming: what was captured at a unit's stated time is heard one unit later.
        let delay = format.unitNanos
        var expected: UInt64 = 0
        while worker.isRunning {
            var unit = bb_audio_unit()
            var error: UnsafeMutablePointer<CChar>?
            let got = bb_audio_pull(pipeline, 200_000_000, &unit, &error)
            if got < 0 {
                defer { free(error) }
                return error.map { String(cString: $0) } ?? "the sound stream ended"
            }
            guard got == 1 else { continue }
            let bytes = Array(UnsafeBufferPointer(start: unit.data, count: unit.size))
            let time = unit.capture_ns > delay ? unit.capture_ns - delay : 0
            bb_audio_unit_free(&unit)
            // A jump of more than two units is a gap in the sound (an overrun, a stalled device).
            let gap = expected != 0 && time > expected + 2 * delay
            expected = time + delay
            var peak = 0.0
            let measured = bb_audio_peak(pipeline, &peak) == 0
            state.withLock {
                if $0.state != .running { $0.state = .running; $0.reason = nil }
                $0.units += 1
                if gap { $0.gaps += 1 }
                if measured { $0.peakDBFS = (peak * 10).rounded() / 10 }
            }
            backoff.reset()
            sink(EncodedAudio(monotonicNanos: time, bytes: bytes))
        }
        return "stopped"
    }

    private func startClicks(_ pipeline: OpaquePointer) -> Worker {
        let clicks = Worker()
        let handle = UncheckedSendable(pipeline)
        _ = clicks.start(name: "clk-\(camera)") { [self, format, flash] in
            var generator = ClickGenerator(format: format, flash: flash, start: MonotonicClock.nanos())
            while clicks.isRunning {
                let now = MonotonicClock.nanos()
                if generator.due > now {
                    sleep(nanos: min(generator.due - now, 20_000_000))
                    continue
                }
                let (block, startNanos) = generator.make()
                if block.withUnsafeBufferPointer({ bb_audio_push(handle.value, $0.baseAddress, $0.count, startNanos) }) != 0 { break }
            }
        }
        return clicks
    }

    private func sleep(nanos: UInt64) {
        var left = nanos
        while left > 0 && worker.isRunning {
            let slice = min(left, 50_000_000)
            var ts = timespec(tv_sec: 0, tv_nsec: Int(slice))
            nanosleep(&ts, nil)
            left -= slice
        }
    }
}

/// Why sound could not be listed or opened.
public struct AudioCaptureError: Error, CustomStringConvertible {
    /// What went wrong, in words.
    public let description: String
    init(_ description: String) { self.description = description }
}
