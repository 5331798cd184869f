import Cameras
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
