import Platform
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Pixel layouts that sources deliver and the encoder accepts.
public enum PixelFormat: String, Sendable, CaseIterable {
    /// Planar Y, U, V with 2×2 chroma subsampling (I420).
    case yuv420
    /// Planar Y, U, V with 2×1 chroma subsampling (the planar form of YUYV).
    case yuv422
    /// Luma only.
    case grey
    /// A complete JPEG from the camera (MJPEG capture), in `planes[0]` (`width` = byte count, one row):
    /// passed through without re-encoding.
    case jpeg
}

/// One plane of 8-bit samples inside a frame buffer.
public struct Plane: @unchecked Sendable {
    /// First byte of the plane's first row.
    public var base: UnsafeMutablePointer<UInt8>
    /// Bytes from one row to the next (may exceed `width`).
    public var stride: Int
    /// Samples per row.
    public var width: Int
    /// Rows.
    public var height: Int

    /// Creates a plane view over memory owned elsewhere.
    public init(base: UnsafeMutablePointer<UInt8>, stride: Int, width: Int, height: Int) {
        self.base = base
        self.stride = stride
        self.width = width
        self.height = height
    }

    /// Pointer to the first sample of row `y`.
    @inlinable
    public func row(_ y: Int) -> UnsafeMutablePointer<UInt8> { base + y * stride }
}

/// Something that owns a frame's pixel memory and takes it back once the frame is encoded or dropped.
public protocol FrameStorage: AnyObject, Sendable {
    /// Gives the memory back to its owner (a buffer pool, or the V4L2 driver via QBUF). Called exactly once.
    func release()
    /// Whether a consumer may keep and draw on this memory for as long as it encodes (the daemon's own memory), rather
    /// than copying it and giving it back at once (a device's buffer, which the driver waits for).
    var mayBeKept: Bool { get }
}

extension FrameStorage {
    /// A device's buffer unless the storage says otherwise.
    public var mayBeKept: Bool { false }
}

/// Wall-clock and monotonic capture times of a frame.
public struct CaptureTime: Sendable, Equatable {
    /// CLOCK_MONOTONIC in nanoseconds: for pacing, intervals and ordering.
    public var monotonicNanos: UInt64
    /// CLOCK_REALTIME seconds since the epoch: what the overlay prints and recordings are named by.
    public var wallSeconds: Int
    /// Nanoseconds within `wallSeconds`.
    public var wallNanos: Int

    /// Creates a capture time from explicit values.
    public init(monotonicNanos: UInt64, wallSeconds: Int, wallNanos: Int) {
        self.monotonicNanos = monotonicNanos
        self.wallSeconds = wallSeconds
        self.wallNanos = wallNanos
    }

    /// `1764000000.123456`: wall-clock seconds with microseconds, as in `X-Timestamp` headers.
    public var timestamp: String {
        "\(wallSeconds)." + String(String(1_000_000 + wallNanos / 1000).dropFirst())
    }

    /// The current time on both clocks.
    public static func now() -> CaptureTime {
        var wall = timespec()
        clock_gettime(CLOCK_REALTIME, &wall)
        return CaptureTime(monotonicNanos: MonotonicClock.nanos(), wallSeconds: Int(wall.tv_sec), wallNanos: Int(wall.tv_nsec))
    }

    /// A past moment of the capture clock (an impact, a button's edge) on both clocks, its wall time counted back from now.
    public static func at(monotonicNanos: UInt64) -> CaptureTime {
        let now = CaptureTime.now()
        let ago = max(0, Int64(bitPattern: now.monotonicNanos &- monotonicNanos))
        let wall = Int64(now.wallSeconds) * 1_000_000_000 + Int64(now.wallNanos) - ago
        return CaptureTime(monotonicNanos: monotonicNanos, wallSeconds: Int(wall / 1_000_000_000), wallNanos: Int(wall % 1_000_000_000))
    }
}

/// An uncompressed frame on its way from a source to the encoder.
///
/// The planes point into `storage`; whoever ends the frame's journey (the encoder, or the code that
/// drops it) calls `storage.release()` exactly once.
public struct RawFrame: Sendable {
    /// Layout of `planes`.
    public var format: PixelFormat
    /// Picture width in pixels.
    public var width: Int
    /// Picture height in pixels.
    public var height: Int
    /// Y, then U and V (absent for grey).
    public var planes: [Plane]
    /// Source sequence number (increasing; gaps mean frames the source lost).
    public var sequence: UInt64
    /// When the frame was captured.
    public var time: CaptureTime
    /// Owner of the pixel memory.
    public var storage: any FrameStorage

    /// Creates a frame over planes that live in `storage`.
    public init(format: PixelFormat, width: Int, height: Int, planes: [Plane], sequence: UInt64, time: CaptureTime, storage: any FrameStorage) {
        self.format = format
        self.width = width
        self.height = height
        self.planes = planes
        self.sequence = sequence
        self.time = time
        self.storage = storage
    }
}

/// Frame size and rate as configured.
public struct FrameGeometry: Sendable, Equatable, CustomStringConvertible {
    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int
    /// Frames per second.
    public var fps: Int

    /// Creates a geometry.
    public init(width: Int, height: Int, fps: Int) {
        self.width = width
        self.height = height
        self.fps = fps
    }

    /// `WxH@FPS`, the form the command line takes.
    public var description: String { "\(width)x\(height)@\(fps)" }
}
