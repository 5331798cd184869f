import Encoding
import Evidence
import Foundation
import Frames
@testable import GPSD
import Rules
import Telemetry
import Testing
@testable import Recording

@Suite("GPS track")
struct GPSTrackTests {
    @Test("a fix survives its CAMM type 6 record: position exactly, speed and heading from the velocity; no fix is type 0")
    func cammRecord() throws {
        let fix = GPSFix(monotonicNanos: 5, mode: .threeD, time: 1_764_000_000.25, latitude: 37.5665351234, longitude: -126.9779691234,
                         altitude: 45.5, speed: 27.78, heading: 250, horizontalError: 3.5, verticalError: 6)
        let record = fix.cammRecord
        #expect(record.count == 60 && record[0...3] == [0, 0, 6, 0])
        let back = try #require(GPSFix(cammRecord: record[...], monotonicNanos: 5))
        #expect(back.latitude == fix.latitude && back.longitude == fix.longitude && back.mode == .threeD)
        #expect(abs(back.time! - fix.time!) < 1e-6 && abs(back.altitude! - 45.5) < 1e-3)
        #expect(abs(back.speed! - 27.78) < 1e-3 && abs(back.heading! - 250) < 1e-3 && back.horizontalError == 3.5)
        let lost = GPSFix(monotonicNanos: 6, mode: .none, time: 1_764_000_001)
        let none = try #require(GPSFix(cammRecord: lost.cammRecord[...], monotonicNanos: 6))
        #expect(!none.hasPosition && none.latitude == nil && none.speed == nil)
        #expect(GPSFix(cammRecord: record[..<59], monotonicNanos: 0) == nil)
    }

    @Test("gpsd's TPV is read tolerantly: fields missing, mode 0, altMSL or alt, eph or epx/epy; its time is UTC")
    func tpv() throws {
        let full = GPSDClient.fix(["class": "TPV", "mode": 3, "time": "2026-12-04T04:19:20.800Z", "lat": 37.5, "lon": 127.0, "altMSL": 45.0,
                                   "alt": 99.0, "speed": 13.89, "track": 90.0, "epx": 3.0, "epy": 4.0], now: 7)
        #expect(full.mode == .threeD && full.latitude == 37.5 && full.altitude == 45 && full.speed == 13.89 && full.heading == 90)
        #expect(full.horizontalError == 4 && full.monotonicNanos == 7)
        #expect(abs(full.time! - 1_796_357_960.8) < 1e-6)
        let bare = GPSDClient.fix(["class": "TPV", "mode": 0], now: 1)
        #expect(bare.mode == .none && !bare.hasPosition && bare.time == nil)
        let twoD = GPSDClient.fix(["class": "TPV", "mode": 2, "lat": 1.0, "lon": 2.0, "alt": 9.0, "eph": 12.0, "speed": "fast"], now: 1)
        #expect(twoD.hasPosition && twoD.altitude == 9 && twoD.horizontalError == 12 && twoD.speed == nil)
        #expect(GPSDClient.parseTime("2005-06-08T10:34:48Z") == 1_118_226_888 && GPSDClient.parseTime("yesterday") == nil)
    }

    @Test("gpsd's address: HOST:PORT, [V6]:PORT or HOST; anything else is refused with what is allowed")
    func address() throws {
        #expect(try GPSSettings(address: "127.0.0.1:2948", name: "gpsd").address == "127.0.0.1:2948")
        #expect(try GPSSettings(address: "gps.lan", name: "gpsd").port == 2947)
        #expect(try GPSSettings(address: "[::1]:2947", name: "gpsd").host == "::1")
        for bad in ["", ":2947", "host:0", "host:70000", "host:port", "two words", "[::1]x"] {
            #expect(throws: RuleError(name: "gpsd", text: bad, allowed: GPSSettings.addressAllowed)) { try GPSSettings(address: bad, name: "gpsd") }
        }
    }

    @Test("map tiles: an http(s) template with {z}, {x} and {y} and its origin; anything that could break the page's policy is refused")
    func tiles() throws {
        let osm = try MapTiles(template: "https://tile.openstreetmap.org/{z}/{x}/{y}.png", name: "tiles")
        #expect(osm.origin == "https://tile.openstreetmap.org")
        #expect(try MapTiles(template: "http://10.0.0.2:8080/tiles/{z}/{x}/{y}?key=1", name: "tiles").origin == "http://10.0.0.2:8080")
        for bad in ["", "tile.openstreetmap.org/{z}/{x}/{y}.png", "ftp://h/{z}/{x}/{y}", "https://h/{z}/{x}.png", "https://{s}.h/{z}/{x}/{y}",
                    "https://h/{z}/{x}/{y}'; script-src *", "https://h /{z}/{x}/{y}", "https://user@h/{z}/{x}/{y}", "https:///{z}/{x}/{y}"] {
            #expect(throws: RuleError(name: "tiles", text: bad, allowed: MapTiles.allowed)) { try MapTiles(template: bad, name: "tiles") }
        }
    }

    @Test("the overlay line: speed in the chosen unit, compass point and degrees, the position if asked; else what is wrong")
    func overlayLine() throws {
        var settings = try GPSSettings(address: "localhost", name: "gpsd")
        var s = GPSStatus(gpsd: settings.address, units: .kmh)
        s.state = .fix
        s.last = GPSFix(monotonicNanos: 0, mode: .threeD, latitude: -33.8688, longitude: 151.2093, speed: 27.78, heading: 359.6)
        #expect(GPSDClient.overlayLine(s, settings: settings) == "100 KM/H  N 0")
        settings.units = .mph
        settings.overlayPosition = true
        #expect(GPSDClient.overlayLine(s, settings: settings) == "62 MPH  N 0  33.86880S 151.20930E")
        s.state = .noFix
        #expect(GPSDClient.overlayLine(s, settings: settings) == "GPS: NO FIX")
        s.state = .noGpsd
        #expect(GPSDClient.overlayLine(s, settings: settings) == "GPS: NO GPSD")
    }

    @Test("an over-speed is said once, until the speed has come back 5 km/h under the limit")
    func speedWatch() {
        var watch = SpeedWatch(limitKmh: 100)
        func at(_ kmh: Double) -> Int? { watch.check(GPSFix(monotonicNanos: 0, mode: .threeD, latitude: 0, longitude: 0, speed: kmh / 3.6)) }
        #expect(at(90) == nil && at(112) == 112 && at(120) == nil && at(97) == nil && at(101) == nil && at(94) == nil && at(103) == 103)
    }

    @Test("reports are recorded as a camm track beside the pictures at their capture times, signed; read back with their wall times")
    func recordedTrack() throws {
        let dir = TempDir()
        let key = DeviceKey.generate()
        let frames = jpegFrames(60, fps: 30)  // 2 s from 1 s on the monotonic clock
        let file = try MP4File(path: dir.path + "/g.mp4", first: frames[0], metadata: true, fragmentNanos: 500_000_000, sync: .never,
                               nominalFps: 30, chain: FragmentChain(id: "cam", key: key))
        // A report before the first picture belongs to the file before; then one every 0.25 s.
        #expect(!file.appendMetadata(MetadataSample(monotonicNanos: 900_000_000, bytes: [1])))
        var fixes: [GPSFix] = []
        for i in 0..<8 {
            let fix = GPSFix(monotonicNanos: 1_000_000_000 + UInt64(i) * 250_000_000, mode: .threeD, time: 1_764_000_000 + Double(i) / 4,
                             latitude: 37 + Double(i) * 1e-5, longitude: 127, speed: 10, heading: 90)
            fixes.append(fix)
        }
        var next = 0
        for f in frames {
            while next < fixes.count, fixes[next].monotonicNanos <= f.time.monotonicNanos {
                #expect(file.appendMetadata(MetadataSample(monotonicNanos: fixes[next].monotonicNanos, bytes: fixes[next].cammRecord)))
                next += 1
            }
            try file.append(f)
        }
        let path = try file.finish()
        let scan = try MP4Reader.scan(path: path)
        #expect(scan.metadata?.trackID == 3 && scan.problems.isEmpty && scan.frameCount == 60)
        let samples = try MetadataTrackReader.samples(path: path)
        #expect(samples.count == 8)
        let start = scan.wallStart(of: scan.fragments[0])
        for (i, s) in samples.enumerated() {
            #expect(abs(s.wallNanos - start - Int64(i) * 250_000_000) < 1_000_000, "sample \(i) at \(s.wallNanos - start)")
            #expect(GPSFix(cammRecord: s.bytes[...], monotonicNanos: 0)?.latitude == fixes[i].latitude)
        }
        #expect(SignatureVerifier.verify(path: path, expected: key.publicKey).verdict == .intact)
        // A reader that listed the file while it was written (`g.mp4.part`) and opens it after it was finished still
        // reads it (the timeline's g-force graph lost a rotating segment's seconds that way).
        #expect(try MetadataTrackReader.samples(path: path + ".part").count == 8)
        #expect(throws: RecordingError.self) { try MP4Reader.scan(path: dir.path + "/none.mp4.part") }
        var data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let run = try #require(scan.fragments.compactMap(\.metadata).first)
        data[run.dataOffset + 20] ^= 0x01
        try Data(data).write(to: URL(fileURLWithPath: path))
        #expect(SignatureVerifier.verify(path: path, expected: key.publicKey).verdict == .changed)
    }
}
