import Cameras
import Capture
import ConfigFile
import Frames
import Testing

@Suite("Camera configuration")
struct CameraConfigTests {
    let defaults = CameraConfig(id: "front")

    @Test("good specs", arguments: [
        ("front=testpattern", "front", FrameGeometry(width: 1280, height: 720, fps: 30)),
        ("rear=testpattern:640x480", "rear", FrameGeometry(width: 640, height: 480, fps: 30)),
        ("cab-1=testpattern:1920x1080@15", "cab-1", FrameGeometry(width: 1920, height: 1080, fps: 15)),
        ("side_l=testpattern@5", "side_l", FrameGeometry(width: 1280, height: 720, fps: 5)),
    ])
    func parsesGoodSpecs(spec: String, id: String, geometry: FrameGeometry) throws {
        let c = try CameraConfig.parse(spec, defaults: defaults)
        #expect(c.id == id)
        #expect(c.geometry == geometry)
        #expect(c.source == .testPattern)
    }

    @Test("bad specs are refused with a message naming the problem and what is allowed", arguments: [
        ("front", "has no '='"),
        ("Front=testpattern", "a-z, 0-9"),
        ("=testpattern", "camera id '' is not allowed"),
        ("front=webcam", "unknown source 'webcam'; allowed: testpattern"),
        ("front=testpattern:640", "size '640' is not WIDTHxHEIGHT"),
        ("front=testpattern:641x480", "even numbers from 16 to 4096"),
        ("front=testpattern:8x8", "even numbers from 16 to 4096"),
        ("front=testpattern:640x480@0", "fps 0 is out of range; allowed: 1 to 120"),
        ("front=testpattern:640x480@fast", "frame rate 'fast' is not a whole number"),
    ])
    func refusesBadSpecs(spec: String, message: String) {
        #expect {
            try CameraConfig.parse(spec, defaults: defaults)
        } throws: { error in
            (error as? ConfigError)?.description.contains(message) == true
        }
    }

    @Test("quality outside 1-100 is refused")
    func quality() {
        #expect(throws: ConfigError.self) { try CameraConfig(id: "a", quality: 101).validate() }
        #expect(throws: Never.self) { try CameraConfig(id: "a", quality: 100).validate() }
    }
}

@Suite("[[camera]] tables")
struct CameraTableTests {
    @Test("a table's own values win over the defaults; what it leaves out comes from them")
    func merged() throws {
        let file = try ConfigLoader.parse("""
            [[camera]]
            id = "dash"
            source = "v4l2:/dev/video3"
            size = "640x480"
            quality = 85
            mode = "motion"

            [[camera]]
            id = "cabin"
            source = "rpicam:1"
            format = "mjpeg"
            fps = 15

            [[camera]]
            id = "usb"
            source = "v4l2:/dev/video5"
            format = "yuyv"
            """, file: "t.toml")
        var defaults = CameraConfig(id: "front", quality: 70, overlay: false, workers: 3)
        defaults.geometry = FrameGeometry(width: 1920, height: 1080, fps: 25)
        let configs = try file.cameras.map { try $0.config(over: defaults, defaultFormat: .mjpeg) }
        #expect(configs.map(\.id) == ["dash", "cabin", "usb"])
        // A device without a format of its own takes the default format; one with a format keeps it.
        #expect(configs[0].source == .v4l2(path: "/dev/video3", format: .mjpeg))
        #expect(configs[2].source == .v4l2(path: "/dev/video5", format: .yuyv))
        #expect(configs[1].source == .rpicam(index: 1, codec: .mjpeg))
        #expect(configs[0].geometry == FrameGeometry(width: 640, height: 480, fps: 25) && configs[0].geometryExplicit)
        #expect(configs[1].geometry == FrameGeometry(width: 1920, height: 1080, fps: 15) && configs[1].geometryExplicit)
        #expect(configs[2].geometry == FrameGeometry(width: 1920, height: 1080, fps: 25) && !configs[2].geometryExplicit)
        #expect(configs.map(\.quality) == [85, 70, 70] && configs.map(\.overlay) == [false, false, false])
        #expect(configs.map(\.workers) == [3, 3, 3])
        #expect(configs[0].recordMode == .motion && configs[1].recordMode == nil)
    }

    @Test("a bad source is refused when the file is read, naming the line")
    func badSource() {
        #expect(throws: ConfigFileError.self) { try ConfigLoader.parse("[[camera]]\nid = \"a\"\nsource = \"webcam\"\n", file: "t.toml") }
    }
}
