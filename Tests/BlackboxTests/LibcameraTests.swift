import Cameras
import Capture
import Foundation
import Frames
@testable import LibcameraCapture
import Platform
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("libcamera cameras")
struct LibcameraTests {
    let defaults = CameraConfig(id: "front")

    @Test("libcamera specs: an index or a camera id (with its @ and /), then size and rate", arguments: [
        ("front=libcamera:0", "0", FrameGeometry(width: 1280, height: 720, fps: 30)),
        ("rear=libcamera:1:1920x1080@15", "1", FrameGeometry(width: 1920, height: 1080, fps: 15)),
        ("front=libcamera:/base/axi/pcie@120000/rp1/i2c@88000/imx708@1a:1536x864@30",
         "/base/axi/pcie@120000/rp1/i2c@88000/imx708@1a", FrameGeometry(width: 1536, height: 864, fps: 30)),
        ("front=libcamera:imx708@1a@10", "imx708@1a", FrameGeometry(width: 1280, height: 720, fps: 10)),
    ])
    func parsesSpecs(spec: String, camera: String, geometry: FrameGeometry) throws {
        let c = try CameraConfig.parse(spec, defaults: defaults)
        #expect(c.source == .libcamera(camera: camera))
        #expect(c.geometry == geometry)
        #expect(c.source.description == "libcamera:\(camera)")
    }

    @Test("bad libcamera specs name the problem", arguments: [
        ("front=libcamera:", "needs a camera index or id"),
        ("front=libcamera:0,mjpeg", "nothing after a comma"),
        ("front=libcamera:0:641x480", "even numbers from 16 to 4096"),
    ])
    func refusesBadSpecs(spec: String, message: String) {
        #expect {
            try CameraConfig.parse(spec, defaults: defaults)
        } throws: { error in
            (error as? ConfigError)?.description.contains(message) == true
        }
    }

    static let seen = LibcameraCameras.parse("""
        /base/axi/pcie@120000/rp1/i2c@88000/imx708@1a\timx708\t4608x2592,2304x1296,1536x864,2304x1296
        /base/axi/pcie@120000/rp1/i2c@80000/ov5647@36\tov5647\t1296x972,640x480
        \tnameless\t
        """)

    @Test("the device provider's lines become cameras (sizes once each, lines without an id skipped)")
    func parsesTheList() {
        #expect(Self.seen.map(\.model) == ["imx708", "ov5647"])
        #expect(Self.seen[1].sizes == ["640x480", "1296x972"])
        #expect(Self.seen[0].sizes == ["1536x864", "2304x1296", "4608x2592"])  // by area, each once
    }

    @Test("a camera is found by index, by id, or by the end of its id; a missing one says what libcamera sees")
    func findsCameras() throws {
        #expect(try LibcameraCameras.find("1", in: Self.seen).get().model == "ov5647")
        #expect(try LibcameraCameras.find("imx708@1a", in: Self.seen).get().model == "imx708")
        #expect(try LibcameraCameras.find(Self.seen[1].id, in: Self.seen).get().model == "ov5647")
        #expect(LibcameraCameras.find("2", in: Self.seen) == .failure(LibcameraError(
            "libcamera has no camera 2; it sees 0: /base/axi/pcie@120000/rp1/i2c@88000/imx708@1a, 1: /base/axi/pcie@120000/rp1/i2c@80000/ov5647@36")))
        #expect(LibcameraCameras.find("08@1a", in: Self.seen) == .failure(LibcameraError(
            "libcamera has no camera '08@1a'; it sees 0: /base/axi/pcie@120000/rp1/i2c@88000/imx708@1a, 1: /base/axi/pcie@120000/rp1/i2c@80000/ov5647@36")))
        #expect(LibcameraCameras.find("0", in: []) == .failure(LibcameraError("libcamera has no camera 0; it sees none")))
    }

    @Test("a camera another program holds is said so; other pipeline errors as GStreamer says them")
    func busyReason() {
        let busy = LibcameraError.reason(forPipelineError: "Internal data stream error. Failed to acquire camera")
        #expect(busy.hasPrefix("camera held by another program (libcamera could not acquire it)"))
        #expect(LibcameraError.reason(forPipelineError: "Could not open resource. libcamera::CameraMananger::cameras() is empty")
            .hasPrefix("libcamera sees no camera"))
        #expect(LibcameraError.reason(forPipelineError: "the camera's stream ended") == "the camera's stream ended")
        #expect(LibcameraError.reason(forPipelineError: "Internal data stream error. streaming stopped, reason not-negotiated (-4)")
            .hasPrefix("the camera cannot give this size exactly"))
    }

    /// request_order.cpp only works when the program exports its two functions: libcamerasrc's calls must find them first.
    /// Looked up in the global scope, which holds the program and what it links: libcamera and the plugin, loaded by
    /// GStreamer on its own, are not in it, so a hit is the program's own definition.
    @Test("the program exports its own Camera::queueRequest and GstLibcameraSrcState::queueRequest for libcamerasrc to bind",
          arguments: ["_ZN9libcamera6Camera12queueRequestEPNS_7RequestE", "_ZN20GstLibcameraSrcState12queueRequestEv"])
    func exportsTheRequestOrderFunctions(symbol: String) throws {
        let global = try #require(dlopen(nil, RTLD_NOW), "the program's own handle")
        defer { dlclose(global) }
        #expect(dlsym(global, symbol) != nil, "\(symbol) is not in the program's dynamic symbols")
    }

    /// The pipeline after libcamerasrc, fed by GStreamer's live test source (as BLACKBOX_LIBCAMERA_FAKE does in the e2e
    /// tests). The consumer holds the capture thread for a second, as a starved thread would: the frames that came
    /// meanwhile are dropped in the pipeline, and each one is counted, so what came and what was lost add up.
    @Test("frames the pipeline drops while the capture thread is behind are counted as late")
    func pipelineDropsAreCounted() throws {
        let source = LibcameraSource(cameraID: "front", selector: "0", geometry: FrameGeometry(width: 160, height: 120, fps: 30),
                                     fake: "videotestsrc is-live=true pattern=ball")
        let firstFrame = Atomic<UInt64>(0)  // monotonic nanoseconds; GStreamer's first start may take seconds
        try source.start { frame in
            if firstFrame.compareExchange(expected: 0, desired: frame.time.monotonicNanos, ordering: .relaxed).exchanged { sleep(1) }
            frame.storage.release()
        }
        #expect(waitUntil(20) { source.stats.captured.load(ordering: .relaxed) >= 60 })
        source.stop()
        let elapsed = Double(MonotonicClock.nanos() - firstFrame.load(ordering: .relaxed)) / 1e9
        let (captured, late) = (source.stats.captured.load(ordering: .relaxed), source.stats.late.load(ordering: .relaxed))
        // About 30 frames came during the held second; two of them waited in the appsink and were delivered after it (a
        // loaded machine may starve the thread for a few more).
        #expect(late >= 20, "late \(late), captured \(captured)")
        // Every frame the source made from the first on is delivered or counted: the held second's 28 lost frames would
        // show. The margin is for frames still on their way at the stop, on a loaded machine.
        #expect(Double(captured + late) <= elapsed * 30 + 3 && Double(captured + late) >= (elapsed - 0.5) * 30,
                "captured \(captured) + late \(late) in \(elapsed) s at 30 fps")
    }
}
