import Frames
import Synchronization

/// Where raw frames come from (test pattern, V4L2 device, replayed file, …).
///
/// A source runs its own dedicated thread between `start` and `stop` and hands every frame to
/// the sink on that thread. The sink must not block: it queues or drops.
public protocol FrameSource: AnyObject, Sendable {
    /// Human-readable description, e.g. `testpattern 1280x720@30`.
    var description: String { get }
    /// Size and rate the source delivers.
    var geometry: FrameGeometry { get }
    /// Counters kept by the source.
    var stats: SourceStats { get }
    /// Starts delivering frames to `sink` from the source's own thread.
    func start(sink: @escaping @Sendable (RawFrame) -> Void) throws
    /// Stops delivering and waits until the source's thread has ended; idempotent.
    func stop()
    /// Whether frames are flowing, and why not when they are not.
    var health: SourceHealth { get }
}

/// A source's state as shown in `/api/status`.
public struct SourceHealth: Sendable, Equatable, Codable {
    /// `streaming`, `no signal` or `starting`.
    public var state: String
    /// Why there is no picture (device lost, busy, …); nil while streaming.
    public var reason: String?

    /// Frames are flowing.
    public static let streaming = SourceHealth(state: "streaming", reason: nil)

    /// Creates a health value.
    public init(state: String, reason: String?) {
        self.state = state
        self.reason = reason
    }
}

extension FrameSource {
    /// Sources that cannot fail are always streaming.
    public var health: SourceHealth { .streaming }
}

/// Counters every source keeps; read from any thread.
public final class SourceStats: Sendable {
    /// Frames the source produced.
    public let captured = Atomic<UInt64>(0)
    /// Frames lost because no buffer was free (the pipeline downstream was behind).
    public let droppedNoBuffer = Atomic<UInt64>(0)
    /// Frame slots missed because the source fell behind its clock.
    public let late = Atomic<UInt64>(0)
    /// Frames the device itself lost (gaps in its sequence numbers or timestamps).
    public let deviceDropped = Atomic<UInt64>(0)
    /// Buffers the device flagged as damaged (skipped).
    public let deviceErrors = Atomic<UInt64>(0)
    /// Times the device was lost and reopened.
    public let reconnects = Atomic<UInt64>(0)

    /// Creates zeroed counters.
    public init() {}
}
