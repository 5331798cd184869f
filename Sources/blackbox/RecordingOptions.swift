import ArgumentParser
import Evidence
import Cameras
import ConfigFile
import Encoding
import Logging
import Recording
import Rules

/// The recording flags of `blackbox run`.
struct RecordingOptions: ParsableArguments {
    @Option(name: .customLong("recordings"), help: ArgumentHelp("Folder for recordings and event clips. Default: recordings.", valueName: "dir"))
    var root: String?

    @Flag(inversion: .prefixedNo, help: "Start continuous recording at launch (default: on; event clips work either way).")
    var record: Bool?

    @Option(help: "Length of a segment file, seconds (1-3600). Default: 60.")
    var segmentSeconds: Double?

    @Option(help: "Length of a fragment, seconds: the most a power cut can lose (0.1 up to the segment length). Default: 1.")
    var fragmentSeconds: Double?

    @Option(help: ArgumentHelp("When to fdatasync: 'fragment' (every fragment, the default), N (every N fragments) or 'never'.", valueName: "policy"))
    var fsync: String?

    @Option(help: ArgumentHelp("Most the recordings may use: a size (800M, 32G) or a share of the filesystem (50%, the default).", valueName: "limit"))
    var quota: String?

    @Option(help: ArgumentHelp("Free space always kept on the filesystem (at least 5 minutes of recording is kept too). Default: 256M.", valueName: "size"))
    var minFree: String?

    @Option(help: "Seconds before an event included in its clip (0-300). Default: 10.")
    var eventPre: Double?

    @Option(help: "Seconds after an event included in its clip (0-3600). Default: 20.")
    var eventPost: Double?

    @Option(help: ArgumentHelp("Recording codec: h264 (x264, a sixth to a seventh of MJPEG's bytes) or mjpeg (the live stream's JPEGs, as they are). Default: h264.", valueName: "codec"))
    var codec: String?

    @Option(help: "Longest an event clip grows while further events extend it, seconds (pre + post roll to 7200). Default: 300.")
    var eventMax: Double?

    @Option(help: "Share of the quota for event clips, percent (1-99). Default: 30.")
    var eventQuota: Double?

    @Option(help: ArgumentHelp("What is recorded: continuous (every second, plus event clips), motion (only event clips, started by motion: parking mode) or off. Default: continuous.", valueName: "mode"))
    var recordMode: String?

    /// The validated recording settings: flags, then the file, then the defaults.
    func config(file: ConfigFile = ConfigFile()) throws -> RecordingConfig {
        // The defaults are RecordingConfig's own, stated once there.
        var c = RecordingConfig()
        let root = self.root ?? file.recordings ?? c.root
        let eventQuota = self.eventQuota ?? file.eventQuota ?? c.eventShare * 100
        c.root = root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root
        c.enabled = record ?? file.record ?? c.enabled
        c.segmentSeconds = segmentSeconds ?? file.segmentSeconds ?? c.segmentSeconds
        c.fragmentSeconds = fragmentSeconds ?? file.fragmentSeconds ?? c.fragmentSeconds
        c.eventPreSeconds = eventPre ?? file.eventPre ?? c.eventPreSeconds
        c.eventPostSeconds = eventPost ?? file.eventPost ?? c.eventPostSeconds
        // A clip always has room for its pre- and post-roll.
        c.eventMaxSeconds = eventMax ?? file.eventMax ?? max(c.eventMaxSeconds, c.eventPreSeconds + c.eventPostSeconds)
        do throws(RuleError) {
            // Flags (strings, checked here) over the file (typed, checked when it was read) over the defaults.
            c.sync = try fsync.map { t throws(RuleError) in try SyncPolicy.parse(t, name: "--fsync") } ?? file.fsync ?? c.sync
            c.quota = try quota.map { t throws(RuleError) in try Quota.parse(t, name: "--quota") } ?? file.quota ?? c.quota
            c.minFreeBytes = try minFree.map { t throws(RuleError) in try parseSize(t, name: "--min-free") } ?? file.minFree ?? c.minFreeBytes
            c.codec = try codec.map { t throws(RuleError) in try VideoCodec.parse(t, name: "--codec") } ?? file.codec ?? c.codec
            let mode = try recordMode.map { t throws(RuleError) in try RecordingMode.parse(t, name: "--record-mode") } ?? file.recordMode ?? c.mode
            // `enabled = false` / `--no-record` is the off mode (event clips still work): cameras start in the mode.
            c.mode = c.enabled || mode != .continuous ? mode : .off
            try RecordingConfig.eventQuotaRule.check(eventQuota, name: "--event-quota")
        } catch {
            throw ValidationError(error.description)
        }
        c.eventShare = eventQuota / 100
        do {
            try c.validate()
        } catch {
            throw ValidationError(error.description)
        }
        return c
    }

    /// Creates the root, recovers segments a crash left unfinished, and returns what cameras need to record.
    /// Limits that cannot work on this disk are reported here, before anything is recorded.
    static func prepare(_ config: RecordingConfig, cameras: [CameraConfig], logger: Logger) throws -> RecordingSetup? {
        do {
            try RecordingsRoot.create(config.root)
        } catch {
            throw StartupError("cannot use recordings folder '\(config.root)': \(error)")
        }
        var recovered = 0
        for result in Recovery.recoverAll(root: config.root) {
            switch result {
            case .success(let r) where r.finalPath != nil:
                recovered += 1
                logger.notice("recovered unfinished segment", metadata: [
                    "file": "\(r.finalPath!)", "seconds": "\(r.seconds)", "frames": "\(r.frames)", "bytesCut": "\(r.bytesCut)"])
            case .success(let r):
                logger.notice("removed unfinished segment with no complete frame", metadata: ["file": "\(r.partPath)"])
            case .failure(let e):
                logger.error("could not recover segment", metadata: ["error": "\(e)"])
            }
        }
        let retention = Retention(root: config.root, quota: config.quota, minFreeBytes: config.minFreeBytes, eventShare: config.eventShare, logger: logger)
        retention.enforce()
        let clip = cameras.map { c in
            estimatedBytesPerSecond(width: c.geometry.width, height: c.geometry.height, fps: c.geometry.fps, codec: c.codec ?? config.codec)
                * (config.eventPreSeconds + config.eventPostSeconds)
        }.max() ?? 0
        for problem in retention.startupProblems(clipBytes: Int(clip)) {
            logger.warning("recording limits do not fit this disk", metadata: ["problem": "\(problem)"])
        }
        let keyPath = DeviceKeyFile.defaultPath(recordings: config.root)
        let key: DeviceKey
        do {
            let (loaded, created, setAside) = try DeviceKeyFile.loadOrCreate(path: keyPath)
            key = loaded
            if let setAside {
                logger.error("the device key file was empty after a power cut; set aside, and a new key made: recordings from now on verify with the new public key ('blackbox key'), older ones with the old (restore the old file from a backup to keep one key)",
                             metadata: ["file": "\(keyPath)", "setAside": "\(setAside)"])
            }
            logger.info(created ? "device key created; every fragment is signed with it" : "signing recordings with the device key",
                        metadata: ["file": "\(keyPath)", "fingerprint": "\(key.publicKey.fingerprint)"])
        } catch {
            throw StartupError("cannot use the device key: \(error)")
        }
        return RecordingSetup(config: config, retention: retention, logger: logger, recovered: recovered, key: key)
    }
}
