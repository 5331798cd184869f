// swift-tools-version: 6.2
import PackageDescription

// Folders follow the data flow: Platform (threads, processes, queues, clocks) and Frames (raw frames) → Capture (GPSD:
// the GPS's reports, IIO: the accelerometer's readings and impacts, GPIO: the ignition and button lines, Telemetry their plain values) →
// Analysis / Encoding (overlay, JPEG, H.264; AudioCapture: sound to AAC) → FrameBus → Recording (with Evidence, the device key and hash chain, below
// it) → Serving, RTSP, MQTT, Hooks. `Cameras` wires one pipeline per camera, `Rules` states each setting's limits once,
// `ServiceSettings` holds the plain values the config loader and the HTTP layer share with MQTT, RTSP and hooks,
// `Access` the login throttle of the web server and RTSP, `Supervision` watches the pipelines, and `blackbox` is the
// thin executable.
let package = Package(
    name: "blackbox",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "blackbox", targets: ["blackbox"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CTurboJPEG",
            pkgConfig: "libturbojpeg",
            providers: [.apt(["libturbojpeg0-dev"])]
        ),
        .systemLibrary(
            name: "CX264",
            pkgConfig: "x264",
            providers: [.apt(["libx264-dev"])]
        ),
        .systemLibrary(
            name: "CMosquitto",
            pkgConfig: "libmosquitto",
            providers: [.apt(["libmosquitto-dev"])]
        ),
        .systemLibrary(
            name: "CGstRTSPServer",
            pkgConfig: "gstreamer-rtsp-server-1.0",
            providers: [.apt(["libgstrtspserver-1.0-dev"])]
        ),
        .systemLibrary(
            name: "CGstVideo",
            pkgConfig: "gstreamer-video-1.0",
            providers: [.apt(["libgstreamer-plugins-base1.0-dev"])]
        ),
        .target(name: "CShims"),
        // Starting GStreamer and its error texts, shared by the three glue targets below.
        .target(name: "GstGlue", dependencies: ["CGstVideo"]),
        .target(name: "CaptureGlue", dependencies: ["CGstVideo", "GstGlue", "LibcameraHold"], linkerSettings: [.linkedLibrary("gstapp-1.0")]),
        // One lasting reference on libcamerasrc's CameraManager (C++: the plugin's getter returns a std::shared_ptr).
        // The two functions of libcamerasrc 0.0.3 whose order request_order.cpp sets right are exported, so that the
        // plugin's calls find them first.
        .target(name: "LibcameraHold", linkerSettings: [.unsafeFlags([
            "-Xlinker", "--export-dynamic-symbol=_ZN9libcamera6Camera12queueRequestEPNS_7RequestE",
            "-Xlinker", "--export-dynamic-symbol=_ZN20GstLibcameraSrcState12queueRequestEv",
        ])]),
        // Sound: ALSA (or pushed PCM) encoded to AAC-LC by GStreamer's avenc_aac, behind a small C API.
        .target(name: "AudioGlue", dependencies: ["CGstVideo", "GstGlue"], linkerSettings: [.linkedLibrary("gstapp-1.0")]),
        // GStreamer's RTSP server behind a small C API (GObject subclassing and GLib callbacks stay in C).
        .target(name: "RTSPGlue", dependencies: ["CGstRTSPServer", "GstGlue"], linkerSettings: [.linkedLibrary("gstapp-1.0"), .linkedLibrary("gstrtsp-1.0")]),
        // Each setting's allowed range or list and its words, stated once on the setting's domain type.
        .target(name: "Rules"),
        .target(name: "Platform", dependencies: ["CShims"]),
        // Plain values of the sensors (a GPS fix, its CAMM record, the GPS settings and status): no C library.
        .target(name: "Telemetry", dependencies: ["Rules"]),
        // gpsd's JSON protocol on a thread of its own.
        .target(name: "GPSD", dependencies: ["Platform", "Telemetry", .product(name: "Logging", package: "swift-log")]),
        // The accelerometer through Linux's IIO interface (buffer and trigger, or sysfs), and the impacts found in it.
        .target(name: "IIO", dependencies: ["Platform", "Telemetry", .product(name: "Logging", package: "swift-log")]),
        // The ignition and button lines through the kernel's GPIO character device (uAPI v2), debounced.
        .target(name: "GPIO", dependencies: ["Platform", "Telemetry", "CShims", .product(name: "Logging", package: "swift-log")]),
        .target(name: "Access", dependencies: ["Platform"]),
        .target(name: "Frames", dependencies: ["Platform", "Rules"]),
        .target(name: "Capture", dependencies: ["Frames", "Platform", "CShims", "Rules", .product(name: "Logging", package: "swift-log")]),
        .target(
            name: "LibcameraCapture",
            dependencies: ["Capture", "Frames", "Platform", "CaptureGlue", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "AudioCapture",
            dependencies: ["AudioGlue", "Encoding", "Frames", "Platform", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "Encoding",
            dependencies: [
                "Frames", "Platform", "CTurboJPEG", "CX264", "Rules",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .target(
            name: "FrameBus",
            dependencies: [
                "Encoding", "Platform",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .target(name: "Evidence", dependencies: ["CShims", .product(name: "Crypto", package: "swift-crypto")]),
        .target(
            name: "Recording",
            dependencies: [
                "Frames", "Platform", "Encoding", "FrameBus", "Evidence", "Rules", "Telemetry",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "Analysis", dependencies: ["Frames", "Platform", "Encoding", "Rules"]),
        // Plain settings, status and error values of the optional services (MQTT, RTSP, hooks): the configuration loader
        // and the HTTP layer read them without linking libmosquitto or GStreamer.
        .target(name: "ServiceSettings", dependencies: ["Rules", .product(name: "Crypto", package: "swift-crypto")]),
        .target(
            name: "MQTT",
            dependencies: [
                "CMosquitto", "Frames", "Platform", "Cameras", "Recording", "ServiceSettings", "Rules", "Telemetry",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "Hooks", dependencies: ["Frames", "Platform", "Recording", "ServiceSettings", .product(name: "Logging", package: "swift-log")]),
        .target(
            name: "RTSP",
            dependencies: [
                "RTSPGlue", "Frames", "Platform", "Access", "Encoding", "FrameBus", "Cameras", "ServiceSettings",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "Cameras",
            dependencies: [
                "Frames", "Platform", "Capture", "Encoding", "FrameBus", "Recording", "Evidence", "Analysis", "Rules",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "Serving",
            dependencies: [
                "Frames", "Platform", "Access", "Cameras", "FrameBus", "Encoding", "Recording", "Evidence", "Analysis", "ServiceSettings", "Rules",
                "Telemetry",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
            ],
            resources: [
                .embedInCode("Resources/openapi.json"),
                .embedInCode("Resources/ui/index.html"),
                .embedInCode("Resources/ui/login.html"),
                .embedInCode("Resources/ui/app.js"),
                .embedInCode("Resources/ui/app.css"),
            ]
        ),
        .target(
            name: "ConfigFile",
            dependencies: [
                "Frames", "Platform", "Capture", "Recording", "Cameras", "Evidence", "Analysis", "ServiceSettings", "Rules", "Telemetry",
                .product(name: "TOMLKit", package: "TOMLKit"),
            ]
        ),
        .target(
            name: "Supervision",
            dependencies: [
                "Cameras", "Frames", "Platform",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "blackbox",
            dependencies: [
                "Frames", "Platform", "Capture", "Encoding", "FrameBus", "Recording", "Cameras", "Serving", "ConfigFile", "Supervision", "Evidence", "Analysis",
                "Hooks", "MQTT", "RTSP", "ServiceSettings", "Rules", "LibcameraCapture", "AudioCapture", "Telemetry", "GPSD", "IIO", "GPIO",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            resources: [.embedInCode("Resources/blackbox.example.toml")]
        ),
        .testTarget(
            name: "BlackboxTests",
            dependencies: ["Frames", "Platform", "Access", "Capture", "Encoding", "FrameBus", "Recording", "Cameras", "ConfigFile", "Serving", "CTurboJPEG", "Evidence", "Analysis", "Hooks", "MQTT", "RTSP", "Supervision", "ServiceSettings", "Rules", "LibcameraCapture", "AudioCapture", "Telemetry", "GPSD", "IIO", "GPIO", .product(name: "NIOEmbedded", package: "swift-nio"), .product(name: "Logging", package: "swift-log")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
