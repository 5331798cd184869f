import Cameras
import ConfigFile
import Foundation
import Frames
import Access
import Platform
@testable import Serving
import Synchronization
import Testing

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let value: Atomic<UInt64>
    init(nanos: UInt64) { value = Atomic(nanos) }
    func read() -> UInt64 { value.load(ordering: .relaxed) }
    func advance(_ nanos: UInt64) { value.add(nanos, ordering: .relaxed) }
}

@Suite("Authentication")
struct AuthenticationTests {
    @Test("a password is hashed with bcrypt and checked against user and password")
    func hashesAndVerifies() {
        let credentials = Credentials(user: "admin", password: "correct horse")
        #expect(StoredCredentials.isHash(credentials.passwordHash))
        #expect(credentials.passwordHash.hasPrefix("$2b$11$"))  // bcrypt, 2^11 rounds
        #expect(!credentials.passwordHash.contains("correct horse"))
        #expect(credentials.verify(user: "admin", password: "correct horse"))
        #expect(!credentials.verify(user: "admin", password: "correct hors"))
        #expect(!credentials.verify(user: "root", password: "correct horse"))
    }

    @Test("generated passwords are 16 characters from the unambiguous alphabet and differ")
    func generatesPasswords() {
        let passwords = (0..<20).map { _ in Credentials.generatePassword() }
        #expect(Set(passwords).count == 20)
        for p in passwords {
            #expect(p.count == 16)
            #expect(!p.contains { "0O1lI".contains($0) })
        }
    }

    @Test("user names and hashes are checked", arguments: [
        ("admin", true), ("ops-1", true), ("", false), ("a:b", false), ("a b", false), (String(repeating: "x", count: 65), false),
    ])
    func checksUserNames(user: String, ok: Bool) {
        #expect(StoredCredentials.isValidUser(user) == ok)
    }

    @Test("hash recognition")
    func recognisesHashes() {
        #expect(!StoredCredentials.isHash("secret"))
        #expect(!StoredCredentials.isHash("$2b$11$" + String(repeating: "a", count: 10)))
        #expect(StoredCredentials.isHash("$2b$11$" + String(repeating: "a", count: 53)))
    }

    @Test("after the free failures an address waits `spacing` between guesses; others are not affected; success clears")
    func throttles() {
        let throttle = LoginThrottle(free: 3, spacing: 12)
        for _ in 0..<2 { throttle.fail("10.0.0.1") }
        #expect(throttle.retryAfter("10.0.0.1") == nil)
        throttle.fail("10.0.0.1")
        let wait = throttle.retryAfter("10.0.0.1")
        // Seconds, never minutes: the owner with the right password gets in soon.
        #expect(wait != nil && wait! > 0 && wait! <= 12)
        #expect(throttle.retryAfter("10.0.0.2") == nil)
        throttle.succeed("10.0.0.1")
        #expect(throttle.retryAfter("10.0.0.1") == nil)
    }

    @Test("the wait ends after the spacing, and the next failure makes the address wait again")
    func throttleSpacingPasses() {
        let now = ManualClock(nanos: 1_000_000_000)
        let throttle = LoginThrottle(free: 2, spacing: 12, memorySeconds: 600) { now.read() }
        throttle.fail("a")
        throttle.fail("a")
        #expect(throttle.retryAfter("a") == 12)
        now.advance(11_500_000_000)
        #expect(throttle.retryAfter("a") == 1)
        now.advance(600_000_000)
        #expect(throttle.retryAfter("a") == nil)
        throttle.fail("a")
        #expect(throttle.retryAfter("a") == 12)
        // Forgotten after memorySeconds.
        now.advance(601_000_000_000)
        #expect(throttle.retryAfter("a") == nil)
        throttle.fail("a")
        #expect(throttle.retryAfter("a") == nil)
    }

    @Test("the throttle table stays bounded")
    func throttleBounded() {
        let throttle = LoginThrottle(free: 2, spacing: 60, capacity: 10)
        for i in 0..<100 { throttle.fail("10.0.0.\(i)") }
        // The newest address is tracked; the table did not grow past its capacity (old ones were evicted).
        throttle.fail("10.0.0.99")
        #expect(throttle.retryAfter("10.0.0.99") != nil)
        #expect(throttle.retryAfter("10.0.0.0") == nil)
    }

    @Test("sessions: random tokens, lookup, close, idle expiry (a request refreshes it), bounded")
    func sessions() {
        let clock = ManualClock(nanos: 1_000_000_000)
        let table = SessionTable(idleSeconds: 300, capacity: 3, clock: clock.read)
        let a = table.open(user: "admin")
        clock.advance(1_000_000)
        let b = table.open(user: "admin")
        #expect(a != b && a.count == 64)
        #expect(table.user(for: a) == "admin")
        let forged = (a.first == "0" ? "1" : "0") + a.dropFirst()  // one hex digit different
        #expect(table.user(for: forged) == nil)
        table.close(a)
        #expect(table.user(for: a) == nil)
        for user in ["x", "y", "z"] {
            clock.advance(1_000_000)
            _ = table.open(user: user)
        }
        #expect(table.count == 3)
        #expect(table.user(for: b) == nil)  // the least recently used went first
        let c = table.open(user: "admin")
        clock.advance(299_000_000_000)
        #expect(table.user(for: c) == "admin")  // 299 s idle: still in, and the request starts the idle time again
        clock.advance(299_000_000_000)
        #expect(table.user(for: c) == "admin")
        clock.advance(300_000_000_001)
        #expect(table.user(for: c) == nil)
    }

    @Test("a request that read the clock before another one refreshed the session keeps it (no wrap to 584 years)")
    func sessionsOutOfOrderClock() {
        let clock = ManualClock(nanos: 1_000_000_000)
        // Two requests at once: the first reads the clock, the second reads it later and refreshes the session
        // first; then the first looks the session up with its older time.
        let early = Atomic<Bool>(false)
        let table = SessionTable(idleSeconds: 300, capacity: 3) { early.load(ordering: .relaxed) ? 1_500_000_000 : clock.read() }
        let token = table.open(user: "admin")
        clock.advance(1_000_000_000)
        #expect(table.user(for: token) == "admin")
        early.store(true, ordering: .relaxed)
        #expect(table.user(for: token) == "admin")
        early.store(false, ordering: .relaxed)
        // The older time did not move the idle timer back: 300 s after the newest request it ends.
        clock.advance(300_000_000_001)
        #expect(table.user(for: token) == nil)
    }

    @Test("form bodies decode + and percent escapes")
    func formFields() {
        let f = LoginRoutes.formFields("user=ad%6Din&password=a+b%26c%3D&empty=")
        #expect(f["user"] == "admin")
        #expect(f["password"] == "a b&c=")
        #expect(f["empty"] == "")
    }

    @Test("the auth file is written 0600 and read back; a broken one is a clear error")
    func authFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bb-auth-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/state/auth.toml"
        let stored = StoredCredentials(user: "admin", passwordHash: "$2b$11$" + String(repeating: "a", count: 53))
        try AuthFile.save(stored, path: path)
        #expect(try AuthFile.load(path: path) == stored)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try AuthFile.load(path: dir + "/missing.toml") == nil)
        try "user = 1\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: ConfigFileError.self) { try AuthFile.load(path: path) }
        // What a power cut leaves on FAT (an entry with no data) is set aside; a file with text in it never is.
        #expect(AuthFile.setAsideIfEmptied(path: path) == nil)
        try Data(count: 512).write(to: URL(fileURLWithPath: path))
        let aside = try #require(AuthFile.setAsideIfEmptied(path: path))
        #expect(!FileManager.default.fileExists(atPath: path) && FileManager.default.contents(atPath: aside) == Data(count: 512))
    }

    @Test("a device key file a power cut left empty is set aside and a new key made; a wrong one is still refused")
    func emptiedDeviceKey() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bb-key-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/.blackbox/device-key.toml"
        let first = try DeviceKeyFile.loadOrCreate(path: path)
        #expect(first.created && first.setAside == nil)
        let again = try DeviceKeyFile.loadOrCreate(path: path)
        #expect(!again.created && again.key.publicKey.fingerprint == first.key.publicKey.fingerprint)
        try Data().write(to: URL(fileURLWithPath: path))
        let replaced = try DeviceKeyFile.loadOrCreate(path: path)
        let aside = try #require(replaced.setAside)
        #expect(replaced.created && replaced.key.publicKey.fingerprint != first.key.publicKey.fingerprint)
        #expect(FileManager.default.contents(atPath: aside)?.isEmpty == true)
        #expect(try DeviceKeyFile.load(path: path)?.publicKey.fingerprint == replaced.key.publicKey.fingerprint)
        try "public_key = \"x\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: ConfigFileError.self) { try DeviceKeyFile.loadOrCreate(path: path) }
    }
}

@Suite("Camera settings choices")
struct SettingsChoicesTests {
    @Test("a test pattern offers the standard sizes and its own")
    func testPattern() {
        let config = CameraConfig(id: "a", geometry: FrameGeometry(width: 800, height: 450, fps: 12))
        let choices = SettingsChoices.for(config)
        #expect(choices.offers(FrameGeometry(width: 1280, height: 720, fps: 30)))
        #expect(choices.offers(FrameGeometry(width: 800, height: 450, fps: 12)))
        #expect(!choices.offers(FrameGeometry(width: 1280, height: 720, fps: 12)))
        #expect(choices.reencodes)
        #expect(choices.sizes.first.map { $0.width * $0.height } == 1920 * 1080)
    }

    @Test("an MJPEG rpicam camera does not re-encode")
    func rpicamMJPEG() {
        let config = CameraConfig(id: "a", source: .rpicam(index: 0, codec: .mjpeg))
        #expect(!SettingsChoices.for(config).reencodes)
        #expect(SettingsChoices.for(config).offers(FrameGeometry(width: 2304, height: 1296, fps: 15)))
    }

    @Test("a V4L2 device that cannot be opened offers only the current size")
    func missingDevice() {
        let config = CameraConfig(id: "a", source: .v4l2(path: "/dev/no-such-video", format: .auto),
                                  geometry: FrameGeometry(width: 640, height: 480, fps: 25))
        let choices = SettingsChoices.for(config)
        #expect(choices.sizes == [.init(width: 640, height: 480, fps: [25])])
        #expect(choices.summary == "640x480@25")
    }
}

@Suite("Saved camera settings")
struct SavedSettingsTests {
    @Test("saved settings apply only to the source they were made for, and only when valid")
    func applying() {
        let config = CameraConfig(id: "front", geometry: FrameGeometry(width: 1280, height: 720, fps: 30))
        let saved = SavedSettings(source: "testpattern", geometry: FrameGeometry(width: 640, height: 480, fps: 10), quality: 60, overlay: false)
        let changed = config.applying(saved)
        #expect(changed?.geometry == saved.geometry && changed?.quality == 60 && changed?.overlay == false)
        var other = saved
        other.source = "rpicam:0,yuv420"
        #expect(config.applying(other) == nil)
        var bad = saved
        bad.quality = 0
        #expect(config.applying(bad) == nil)
    }

    @Test("the settings file round-trips, quoting the source, with a sound's mute")
    func roundTrip() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bb-settings-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/cameras.toml"
        let all = ["front": SavedSettings(source: "v4l2:/dev/odd \"name\",auto", geometry: FrameGeometry(width: 640, height: 480, fps: 25),
                                          quality: 70, overlay: true),
                   "rear": SavedSettings(source: "testpattern", geometry: FrameGeometry(width: 320, height: 240, fps: 5), quality: 40, overlay: false,
                                         muted: true)]
        try SettingsFile.save(all, path: path)
        #expect(try SettingsFile.load(path: path) == all)
        #expect(try SettingsFile.load(path: dir + "/none.toml").isEmpty)
    }
}
