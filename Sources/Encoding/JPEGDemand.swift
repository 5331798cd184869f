import Frames
import Platform
import Synchronization

/// Whether a camera's frames need a JPEG now. With MJPEG recording every frame does; with H.264
/// recording only while a live viewer is connected or a snapshot was asked for, so that a camera
/// nobody watches spends no CPU on JPEG.
public final class JPEGDemand: Sendable {
    /// Every frame needs one (MJPEG recording, or no H.264 stream to keep the camera's pulse).
    public var always: Bool {
        get { alwaysFlag.load(ordering: .relaxed) }
        set { alwaysFlag.store(newValue, ordering: .relaxed) }
    }
    private let alwaysFlag: Atomic<Bool>
    /// Live MJPEG connections open now.
    public let viewers = Atomic<Int>(0)
    /// Frames not JPEG-encoded because nobody wanted one.
    public let skipped = Atomic<UInt64>(0)
    private let until = Atomic<UInt64>(0)

    /// Demand for a camera that needs a JPEG of every frame (`always`) or only on request.
    public init(always: Bool) {
        alwaysFlag = Atomic(always)
    }

    /// Asks for JPEGs of the frames of the next `nanos` (a snapshot).
    public func request(for nanos: UInt64 = 2_000_000_000) {
        let deadline = MonotonicClock.nanos() + nanos
        var current = until.load(ordering: .relaxed)
        while current < deadline {
            let (exchanged, original) = until.compareExchange(expected: current, desired: deadline, ordering: .relaxed)
            if exchanged { break }
            current = original
        }
    }

    /// Whether the frame captured now needs a JPEG.
    public var isWanted: Bool {
        alwaysFlag.load(ordering: .relaxed) || viewers.load(ordering: .relaxed) > 0 || MonotonicClock.nanos() < until.load(ordering: .relaxed)
    }
}
