import ArgumentParser
import AudioCapture
import Cameras
import Capture
import ConfigFile
import Encoding
import Foundation
import Frames
import GPSD
import Logging
import LibcameraCapture
import Platform
import Recording
import RTSP
import ServiceSettings
import Supervision
import Rules
import Telemetry

/// `blackbox doctor`: checks what the daemon needs, each with OK / WARN / FAIL and the fix.
struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the machine: JPEG library, cameras and permissions, Pi camera stack, recordings disk, temperature, power, clock, port.",
        discussion: "Exits 1 when any check FAILs.")

    @Option(help: ArgumentHelp("Configuration file to check against.", valueName: "path"))
    var config: String?

    @Option(name: .customLong("recordings"), help: ArgumentHelp("Recordings folder (default: from the configuration, else ./recordings).", valueName: "dir"))
    var root: String?

    @Option(help: "Port the daemon will listen on (default: from the configuration, else 8080).")
    var port: Int?

    @Option(help: ArgumentHelp("gpsd to check (default: from the configuration's [gps]).", valueName: "host:port"))
    var gpsd: String?

    @Option(help: ArgumentHelp("Root of /proc and /sys to read (for tests).", visibility: .hidden))
    var sysroot = ""

    @Option(help: ArgumentHelp("Folder holding the device nodes (for tests).", visibility: .hidden))
    var devroot = "/dev"

    enum Level: String { case ok = "OK  ", warn = "WARN", fail = "FAIL" }

    struct Check {
        var level: Level
        var name: String
        var detail: String
        var fix: String?
    }

    func run() throws {
        let file: ConfigFile
        do {
            file = try ConfigLoader.load(path: config ?? ConfigLoader.defaultPath, required: config != nil && config != ConfigLoader.defaultPath) ?? ConfigFile()
        } catch {
            throw StartupError(error.description)
        }
        var checks: [Check] = []
        checks.append(jpegLibrary())
        checks += cameras()
        checks.append(libcamera())
        checks.append(sound(file: file))
        checks.append(tool("rpicam-vid", why: "needed only for rpicam:N cameras", package: "rpicam-apps"))
        let folder = root ?? file.recordings ?? RecordingConfig().root
        checks += recordings(root: folder, file: file)
        checks.append(login(file: file, recordings: folder))
        checks.append(signing(recordings: folder))
        checks += machine()
        checks.append(clock())
        checks.append(portFree(port ?? file.port ?? ServerSettings.defaultPort))
        checks.append(rtsp(file: file, recordings: folder))
        if let g = try gpsSettings(file) { checks.append(gps(g)) }
        for c in checks {
            print("\(c.level.rawValue)  \(c.name): \(c.detail)")
            if let fix = c.fix, c.level != .ok { print("      fix: \(fix)") }
        }
        let failed = checks.filter { $0.level == .fail }.count
        let warned = checks.filter { $0.level == .warn }.count
        print("\(checks.count) checks: \(checks.count - failed - warned) OK, \(warned) WARN, \(failed) FAIL")
        if failed > 0 { throw ExitCode(1) }
    }

    private func read(_ path: String) -> String? { readSystemFile(sysroot + path) }

    private func gpsSettings(_ file: ConfigFile) throws -> GPSSettings? {
        guard let gpsd else { return file.gps }
        do throws(RuleError) {
            return try GPSSettings(address: gpsd, name: "--gpsd")
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// gpsd answers, speaks protocol 3, its receiver has a fix, and the system clock agrees with the GPS's time.
    private func gps(_ settings: GPSSettings) -> Check {
        let client = GPSDClient(settings: settings, logger: Logger(label: "doctor", factory: { _ in SwiftLogNoOpLogHandler() }))
        client.start()
        defer { client.stop() }
        let deadline = MonotonicClock.nanos() + 5_000_000_000
        var s = client.status()
        while MonotonicClock.nanos() < deadline, s.state != .fix || s.clockOffsetSeconds == nil {
            sleepNanos(100_000_000)
            s = client.status()
        }
        let name = "gps (gpsd \(settings.address))"
        switch s.state {
        case .connecting, .noGpsd:
            return Check(level: .fail, name: name, detail: s.error ?? "no answer in 5 s", fix: "start gpsd (sudo systemctl enable --now gpsd) and give it the receiver's device in /etc/default/gpsd")
        case .noFix:
            return Check(level: .warn, name: name, detail: "\(s.release ?? "gpsd") answers, but \(s.error ?? "the receiver has no fix")",
                         fix: "give the receiver a view of the sky; check its device in /etc/default/gpsd")
        case .fix:
            let offset = s.clockOffsetSeconds.map { String(format: "%+.2f s", $0) } ?? "unknown"
            if !s.clockChecked {
                return Check(level: .warn, name: name, detail: "fix; the system clock differs from the GPS's time by \(offset)",
                             fix: "let chrony or gpsd set the clock from the GPS (a Pi has no battery clock)")
            }
            return Check(level: .ok, name: name, detail: "\(s.release ?? "gpsd"): fix, \(s.satellitesUsed.map { "\($0) satellites, " } ?? "")clock within \(offset) of the GPS")
        }
    }

    private func jpegLibrary() -> Check {
        do {
            let pool = BufferPool(count: 1, bytesPerBuffer: BufferPool.Buffer.byteCount(format: .yuv420, width: 64, height: 64))
            let buffer = pool.acquire()!
            defer { buffer.release() }
            let frame = RawFrame(format: .yuv420, width: 64, height: 64, planes: buffer.planes(format: .yuv420, width: 64, height: 64),
                                 sequence: 0, time: .now(), storage: buffer)
            let size = try JPEGEncoder().encode(frame, quality: 80) { $0.count }
            return Check(level: .ok, name: "libjpeg-turbo", detail: "encodes (test frame: \(size) bytes)")
        } catch {
            return Check(level: .fail, name: "libjpeg-turbo", detail: "\(error)", fix: "sudo apt install libturbojpeg0")
        }
    }

    private func cameras() -> [Check] {
        let devices = V4L2Inventory.devices(devRoot: devroot)
        if devices.isEmpty {
            return [Check(level: .warn, name: "cameras", detail: "no V4L2 device; the test pattern will be used",
                          fix: "plug in a USB webcam, or connect the Pi camera and reboot")]
        }
        var out: [Check] = []
        for d in devices {
            guard let info = d.info else {
                let denied = d.error?.contains("Permission denied") == true
                out.append(Check(level: .fail, name: d.path, detail: d.error ?? "cannot open",
                                 fix: denied ? "add the user to the video group: sudo usermod -aG video $USER (then log in again)" : nil))
                continue
            }
            guard info.canCapture else { continue }
            let formats = d.formats.map(\.fourcc.description).joined(separator: ", ")
            if !d.formats.isEmpty && d.formats.allSatisfy({ $0.fourcc.isBayer(description: $0.description) }) {
                out.append(Check(level: .warn, name: d.path, detail: "\(info.card): raw Bayer only (\(formats)): a Pi CSI camera",
                                 fix: "use it through libcamera: --camera ID=libcamera:N ('blackbox devices' lists libcamera's cameras)"))
            } else {
                out.append(Check(level: .ok, name: d.path, detail: "\(info.card) (\(info.driver)): \(formats)"))
            }
        }
        return out
    }

    private func which(_ program: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/\(program)"
            if access(path, X_OK) == 0 { return path }
        }
        return nil
    }

    /// libcamera through GStreamer's plugin: the way to the Pi's camera modules (`libcamera:N`).
    private func libcamera() -> Check {
        switch LibcameraCameras.list() {
        case .failure(let error):
            return Check(level: .warn, name: "libcamera", detail: "\(error) (needed only for libcamera:N cameras)",
                         fix: "sudo apt install gstreamer1.0-libcamera")
        case .success(let cameras):
            let seen = cameras.isEmpty ? "no cameras" : cameras.enumerated().map { "libcamera:\($0.offset) \($0.element.model)" }.joined(separator: ", ")
            return Check(level: .ok, name: "libcamera", detail: seen)
        }
    }

    /// Sound: GStreamer's ALSA capture and AAC encoder, and the microphones there are; a fail when a camera asks for sound
    /// that cannot be recorded.
    private func sound(file: ConfigFile) -> Check {
        let wanted = file.cameras.compactMap { table in table.audio.map { "\(table.id): \($0)" } }
        switch AudioCapture.devices() {
        case .failure(let error):
            return Check(level: wanted.isEmpty ? .warn : .fail, name: "sound", detail: "\(error) (needed only for cameras with audio)",
                         fix: "sudo apt install gstreamer1.0-alsa gstreamer1.0-libav")
        case .success(let devices):
            let seen = devices.isEmpty ? "no microphones" : devices.map { "alsa:\($0.device) (\($0.name))" }.joined(separator: ", ")
            if devices.isEmpty && wanted.contains(where: { $0.contains("alsa:") }) {
                return Check(level: .warn, name: "sound", detail: "\(seen), but \(wanted.joined(separator: ", ")) asks for one",
                             fix: "plug in the microphone ('arecord -l' lists what ALSA sees)")
            }
            return Check(level: .ok, name: "sound", detail: seen + (wanted.isEmpty ? "" : "; recording \(wanted.joined(separator: ", "))"))
        }
    }

    private func tool(_ program: String, why: String, package: String) -> Check {
        if let path = which(program) { return Check(level: .ok, name: program, detail: path) }
        return Check(level: .warn, name: program, detail: "not installed (\(why))", fix: "sudo apt install \(package)")
    }

    private func recordings(root: String, file: ConfigFile) -> [Check] {
        var out: [Check] = []
        do {
            try RecordingsRoot.create(root)
        } catch {
            return [Check(level: .fail, name: "recordings", detail: "\(root): \(error)",
                          fix: "create it and give the daemon's user write access: sudo install -d -o $USER \(root)")]
        }
        var fs = statvfs()
        guard statvfs(root, &fs) == 0 else { return [Check(level: .fail, name: "recordings", detail: "cannot stat \(root)")] }
        let free = Double(fs.f_bavail) * Double(fs.f_frsize)
        let mount = mountOf(root)
        let type = mount.type
        out.append(Check(level: .ok, name: "recordings", detail: "\(root) is writable, filesystem \(type)"))
        // Bitrate of MJPEG at the configured size: about 0.15 bytes per pixel at quality 80 on real scenes.
        let geometry = (try? CameraConfig.parseGeometry((file.size ?? "1280x720@30")[...], base: CameraConfig.defaultGeometry, context: ""))
            ?? CameraConfig.defaultGeometry
        let cameraCount = max(1, file.cameras.count)
        let codec = file.codec ?? RecordingConfig().codec
        let bytesPerSecond = estimatedBytesPerSecond(width: geometry.width, height: geometry.height, fps: geometry.fps, codec: codec) * Double(cameraCount)
        let hours = free / bytesPerSecond / 3600
        let level: Level = hours < 1 ? .fail : (hours < 6 ? .warn : .ok)
        out.append(Check(level: level, name: "disk space",
                         detail: String(format: "%.1f GB free: about %.1f hours at %@ with %d camera(s) (~%.1f MB/s)",
                                        free / 1e9, hours, "\(geometry)", cameraCount, bytesPerSecond / 1e6),
                         fix: "use a larger card or disk; loop recording keeps working either way"))
        if let config = try? RecordingOptions.parse([]).config(file: file) {
            let retention = Retention(root: root, quota: config.quota, minFreeBytes: config.minFreeBytes, eventShare: config.eventShare)
            let clip = Int(bytesPerSecond / Double(cameraCount) * (config.eventPreSeconds + config.eventPostSeconds))
            for problem in retention.startupProblems(clipBytes: clip) {
                out.append(Check(level: .warn, name: "retention", detail: problem, fix: "see [recording] quota, min_free and event_quota_percent"))
            }
        }
        out += powerCutRisks(recordings: mount, root: mountOf("/"))
        return out
    }

    /// What a power cut (every ignition-off in a car) can cost with these filesystems, each with its fix.
    private func powerCutRisks(recordings: Mount, root: Mount) -> [Check] {
        var out: [Check] = []
        if recordings.type == "vfat" || recordings.type == "exfat" {
            out.append(Check(level: .warn, name: "filesystem",
                             detail: "\(recordings.type) has no journal: a power cut can leave the folder structure needing fsck, and the "
                                + "file being written is cut back to its last fragment (finished files are kept)",
                             fix: "format the recordings disk as ext4"))
        }
        if recordings.type.hasPrefix("ext") {
            if recordings.options.contains("data=writeback") {
                out.append(Check(level: .warn, name: "filesystem", detail: "\(recordings.point) is mounted data=writeback: after a power cut "
                                    + "a file may hold stale blocks where its last data should be",
                                 fix: "mount it with the default data=ordered (remove data=writeback from /etc/fstab)"))
            }
            if let commit = recordings.options.first(where: { $0.hasPrefix("commit=") }).flatMap({ Int($0.dropFirst(7)) }), commit > 5 {
                out.append(Check(level: .warn, name: "filesystem", detail: "\(recordings.point) commits its journal every \(commit) s: "
                                    + "a power cut loses up to that much of the folder's changes",
                                 fix: "remove commit=\(commit) from /etc/fstab (the default is 5 s)"))
            }
        }
        if root.options.contains("rw") && root.type != "overlay" {
            out.append(Check(level: .warn, name: "root filesystem", detail: "/ is writable without an overlay: a power cut while the "
                                + "system writes can damage the system itself",
                             fix: "on Raspberry Pi OS: sudo raspi-config → Performance Options → Overlay File System (recordings on "
                                + "their own partition or disk stay writable)"))
        }
        return out
    }

    /// A mount from /proc/mounts: where, its type and options.
    struct Mount {
        var point = ""
        var type = "unknown"
        var options: [String] = []
    }

    /// The mount that holds `path` (the longest mount point above it).
    private func mountOf(_ path: String) -> Mount {
        guard let mounts = read("/proc/mounts") else { return Mount() }
        let real = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        var best = Mount()
        for line in mounts.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count > 3 else { continue }
            let point = String(f[1])
            if (real == point || real.hasPrefix(point == "/" ? "/" : point + "/")) && point.count >= best.point.count {
                best = Mount(point: point, type: String(f[2]), options: f[3].split(separator: ",").map(String.init))
            }
        }
        return best
    }

    /// Where the password comes from, and whether its file is private.
    private func login(file: ConfigFile, recordings: String) -> Check {
        if file.passwordHash != nil {
            return Check(level: .ok, name: "login", detail: "password hash set in the configuration ([auth] password_hash)")
        }
        let path = file.authFile ?? Passwd.defaultPath(recordings: recordings)
        guard let mode = permissions(path) else {
            return Check(level: .ok, name: "login", detail: "no password yet: one is generated at the first start and printed once (\(path))")
        }
        guard mode & 0o077 == 0 else {
            return Check(level: .warn, name: "login", detail: "\(path) can be read by others (mode \(String(mode, radix: 8)))",
                         fix: "chmod 600 \(path)")
        }
        return Check(level: .ok, name: "login", detail: "password hash in \(path) (mode \(String(mode, radix: 8)))")
    }

    /// The RTSP server: GStreamer's elements, and whether Digest can be offered (the auth file has its HA1).
    private func rtsp(file: ConfigFile, recordings: String) -> Check {
        let settings = file.rtsp ?? RTSPSettings()
        guard settings.enabled else { return Check(level: .ok, name: "rtsp", detail: "off ([rtsp] enabled = false)") }
        if let problem = RTSPServer.libraryProblem() {
            return Check(level: .fail, name: "rtsp", detail: problem,
                         fix: "sudo apt install libgstrtspserver-1.0-0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good, or [rtsp] enabled = false")
        }
        let path = file.authFile ?? Passwd.defaultPath(recordings: recordings)
        let stored = file.passwordHash == nil ? (try? AuthFile.load(path: path)) ?? nil : nil
        let digest = file.passwordHash == nil ? stored.map { $0.digestHA1 != nil } ?? true : file.digestHA1 != nil
        guard digest else {
            return Check(level: .warn, name: "rtsp", detail: "port \(settings.port): Basic only; the account has no Digest HA1 (set before RTSP existed)",
                         fix: "blackbox passwd --recordings \(recordings) (or [auth] digest_ha1 from blackbox passwd --print-hash)")
        }
        return Check(level: .ok, name: "rtsp", detail: "GStreamer's RTSP server is ready for port \(settings.port), Basic and Digest")
    }

    /// The device key that signs recordings: its fingerprint, and whether its file is private.
    private func signing(recordings: String) -> Check {
        let path = DeviceKeyFile.defaultPath(recordings: recordings)
        let missing = Check(level: .ok, name: "signing", detail: "no device key yet: it is made at the first start (\(path))")
        guard let mode = permissions(path) else { return missing }
        guard mode & 0o077 == 0 else {
            return Check(level: .fail, name: "signing", detail: "\(path) can be read by others (mode \(String(mode, radix: 8))): anyone who reads it can forge footage",
                         fix: "chmod 600 \(path), and consider the old key known: move it away to have a new one made")
        }
        do {
            guard let key = try DeviceKeyFile.load(path: path) else { return missing }
            return Check(level: .ok, name: "signing", detail: "Ed25519 public key \(key.publicKey.base64), fingerprint \(key.publicKey.fingerprint) (\(path), mode \(String(mode, radix: 8)))")
        } catch {
            return Check(level: .fail, name: "signing", detail: "\(error)", fix: "restore the key file from a backup, or move it away to have a new key made")
        }
    }

    /// The permission bits of `path`, nil when it does not exist.
    private func permissions(_ path: String) -> mode_t? {
        var st = stat()
        return stat(path, &st) == 0 ? st.st_mode & 0o777 : nil
    }

    private func machine() -> [Check] {
        var out: [Check] = []
        let model = read("/proc/device-tree/model") ?? read("/sys/firmware/devicetree/base/model")
        out.append(Check(level: .ok, name: "machine", detail: model ?? "not a device-tree machine (\(uname()))"))
        if let c = SystemLoad(root: sysroot).temperature() {
            out.append(Check(level: c >= 80 ? .warn : .ok, name: "temperature", detail: String(format: "%.1f °C", c),
                             fix: "add a heatsink or fan: the Pi 5 slows down at 85 °C"))
        } else {
            out.append(Check(level: .ok, name: "temperature", detail: "not reported by this machine"))
        }
        if let raw = read("/sys/devices/platform/soc/soc:firmware/get_throttled"), let bits = UInt32(raw, radix: 16) {
            let now = [(0, "under-voltage"), (1, "frequency capped"), (2, "throttled"), (3, "soft temperature limit")]
                .filter { bits & (1 << $0.0) != 0 }.map(\.1)
            let past = [(16, "under-voltage"), (17, "frequency capped"), (18, "throttled"), (19, "soft temperature limit")]
                .filter { bits & (1 << $0.0) != 0 }.map(\.1)
            if !now.isEmpty {
                out.append(Check(level: .fail, name: "power", detail: "now: \(now.joined(separator: ", ")) (0x\(raw))",
                                 fix: "use the official 27 W USB-C supply; in a car, a converter that holds 5.1 V under load"))
            } else if !past.isEmpty {
                out.append(Check(level: .warn, name: "power", detail: "since boot: \(past.joined(separator: ", ")) (0x\(raw))",
                                 fix: "use the official 27 W USB-C supply; in a car, a converter that holds 5.1 V under load"))
            } else {
                out.append(Check(level: .ok, name: "power", detail: "no under-voltage or throttling since boot"))
            }
        }
        return out
    }

    private func uname() -> String {
        var u = utsname()
        Glibc.uname(&u)
        return withUnsafeBytes(of: u.machine) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
    }

    private func clock() -> Check {
        let year = Calendar(identifier: .gregorian).component(.year, from: Date())
        if year < 2025 {
            return Check(level: .warn, name: "clock", detail: "the date is \(Date()): it looks unset (a Pi without network time starts in the past)",
                         fix: "enable network time (timedatectl set-ntp true) or fit an RTC battery: file names use the clock")
        }
        return Check(level: .ok, name: "clock", detail: "\(Date())")
    }

    private func portFree(_ port: Int) -> Check {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if bound == 0 { return Check(level: .ok, name: "port", detail: "\(port) is free") }
        let problem = String(cString: strerror(errno))
        if Self.blackboxAnswers(port: port) {
            return Check(level: .ok, name: "port", detail: "\(port) is served by the blackbox daemon running now")
        }
        return Check(level: .fail, name: "port", detail: "\(port) is in use by another program (\(problem))",
                     fix: "stop the program using it, or choose another port (--port / [server] port)")
    }

    /// Whether the program on `port` of this machine is a blackbox daemon (its `Server` header says so).
    static func blackboxAnswers(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return false }
        let request = Array("HEAD /healthz HTTP/1.0\r\n\r\n".utf8)
        guard send(fd, request, request.count, Int32(MSG_NOSIGNAL)) == request.count else { return false }
        var answer = [UInt8](repeating: 0, count: 1024)
        let n = recv(fd, &answer, answer.count, 0)
        guard n > 0 else { return false }
        return String(decoding: answer[..<n], as: UTF8.self).lowercased().contains("\r\nserver: blackbox\r\n")
    }
}
