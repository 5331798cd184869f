import Foundation
import Frames
import Platform
import Logging
import Recording
import ServiceSettings
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Runs the configured hooks for finished recordings: supervised children (own process group, timeout,
/// SIGTERM then SIGKILL, reaped), at most `maxRunning` at once on their own threads, behind a bounded queue
/// (full: dropped and counted). The recorder only offers to the queue: a hook never blocks recording.
public final class HookRunner: Sendable {
    private struct Job: Sendable {
        let argv: [String]
        let environment: [String: String]
        let name: String
    }

    /// The settings in force.
    public let settings: HookSettings
    private let queue: BoundedQueue<Job>
    private let logger: Logger
    private let root: String
    private let state = Mutex(HookStatus(queued: 0, running: 0, started: 0, succeeded: 0, failed: 0, timedOut: 0, dropped: 0, mostRunning: 0))
    private let stopping = Atomic<Bool>(false)
    private let workers: [Worker]

    /// Starts `settings.maxRunning` idle workers; `root` makes hook paths absolute.
    public init(settings: HookSettings, root: String, logger: Logger) {
        self.settings = settings
        self.logger = logger
        queue = BoundedQueue(capacity: settings.queueLength)
        var cwd = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let base = getcwd(&cwd, cwd.count).map { _ in String(cString: cwd) } ?? "."
        self.root = root.hasPrefix("/") ? root : "\(base)/\(root)"
        workers = (0..<settings.maxRunning).map { _ in Worker() }
        for (i, worker) in workers.enumerated() { worker.start(name: "hook-\(i)") { [self] in work() } }
    }

    /// Queues the hook for `recording`, if one is configured for its kind (never blocks).
    public func finished(_ recording: FinishedRecording) {
        guard let template = recording.kind == .event ? settings.onEventClip : settings.onSegmentComplete else { return }
        let values = fields(recording)
        // Placeholders such as {path} are replaced; without any, the file's path is the last argument.
        var argv = template.map { arg in values.reduce(arg) { $0.replacingOccurrences(of: "{\($1.key)}", with: $1.value) } }
        if !template.contains(where: { arg in values.keys.contains { arg.contains("{\($0)}") } }) { argv.append(values["path"]!) }
        let environment = Dictionary(uniqueKeysWithValues: values.map { ("BLACKBOX_\($0.key.uppercased())", $0.value) })
        let name = recording.kind == .event ? "on_event_clip" : "on_segment_complete"
        if queue.offer(Job(argv: argv, environment: environment, name: name)) {
            state.withLock { $0.queued += 1 }
        } else {
            state.withLock { $0.dropped += 1 }
            logger.warning("hook queue full; hook not run", metadata: ["hook": "\(name)", "file": "\(recording.relative)", "queue": "\(settings.queueLength)"])
        }
    }

    /// The placeholders and environment values of a recording.
    private func fields(_ r: FinishedRecording) -> [String: String] {
        [
            "path": r.path.hasPrefix("/") ? r.path : "\(root)/\(r.relative)",
            "relative": r.relative,
            "camera": r.camera,
            "kind": r.kind.rawValue,
            "reason": r.reason ?? "",
            "start": WallTime.format(Int64(r.startEpoch * 1e9)),
            "start_epoch": String(format: "%.3f", r.startEpoch),
            "seconds": String(format: "%.3f", r.seconds),
            "bytes": String(r.bytes),
        ]
    }

    /// Counters.
    public func status() -> HookStatus {
        state.withLock { $0 }
    }

    /// Runs nothing more: queued hooks are dropped, running ones get SIGTERM and, half a second later, SIGKILL.
    public func stop() {
        stopping.store(true, ordering: .releasing)
        queue.close()
        for worker in workers { worker.stop() }
    }

    private func work() {
        while let job = queue.take() {
            state.withLock { $0.queued -= 1 }
            guard !stopping.load(ordering: .acquiring) else { continue }
            run(job)
        }
    }

    private func run(_ job: Job) {
        let child: ChildProcess
        do {
            child = try ChildProcess(job.argv, environment: job.environment, mergeErrors: true)
        } catch {
            fail(job, "\(error)", timedOut: false)
            return
        }
        state.withLock { s in
            s.started += 1
            s.running += 1
            s.mostRunning = max(s.mostRunning, s.running)
        }
        defer { state.withLock { $0.running -= 1 } }
        // Read its output (the last 2 KiB are kept for the log) until it closes it, the timeout passes or we stop.
        let deadline = MonotonicClock.nanos() + UInt64(settings.timeoutSeconds * 1e9)
        var tail: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        var open = true
        while MonotonicClock.nanos() < deadline, !stopping.load(ordering: .acquiring) {
            if !open {
                if child.exitStatus() != nil { break }
                sleepNanos(10_000_000)
                continue
            }
            var pfd = pollfd(fd: child.stdout, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 100) > 0 else { continue }
            let n = read(child.stdout, &buffer, buffer.count)
            if n > 0 {
                tail.append(contentsOf: buffer[..<n])
                if tail.count > 2048 { tail.removeFirst(tail.count - 2048) }
            } else if n == 0 || errno != EINTR {
                open = false
            }
        }
        let ended = child.exitStatus() != nil
        let stoppedEarly = !ended && stopping.load(ordering: .acquiring)
        child.terminate(grace: stoppedEarly ? 0.5 : 2)
        let output = String(decoding: tail, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if !ended {
            fail(job, stoppedEarly ? "\(child.program) stopped with the daemon" : "\(child.program) ran longer than \(settings.timeoutSeconds) s and was killed",
                 timedOut: !stoppedEarly, output: output)
        } else if child.exitCode == 0 {
            state.withLock { $0.succeeded += 1 }
            logger.debug("hook done", metadata: ["hook": "\(job.name)", "program": "\(child.program)"])
        } else {
            fail(job, child.exitDescription() ?? "\(child.program) failed", timedOut: false, output: output)
        }
    }

    private func fail(_ job: Job, _ why: String, timedOut: Bool, output: String = "") {
        let line = output.isEmpty ? why : "\(why): \(output.suffix(300))"
        state.withLock { s in
            s.failed += 1
            if timedOut { s.timedOut += 1 }
            s.lastFailure = line
        }
        logger.warning("hook failed", metadata: ["hook": "\(job.name)", "problem": "\(line)"])
    }
}
