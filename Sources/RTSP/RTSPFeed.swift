import Cameras
import Encoding
import FrameBus
import Frames
import Platform
import Synchronization

/// One camera's H.264 frames carried to a C sink on a thread of their own: a bounded subscription (a full
/// queue drops and counts), so the encoder and the capture loop never wait for RTSP.
final class RTSPFeed: Sendable {
    /// Frames passed on.
    let sent = Atomic<UInt64>(0)
    /// Frames the sink refused (its clients behind) plus frames the queue lost.
    var dropped: UInt64 { refused.load(ordering: .relaxed) + subscription.dropped.load(ordering: .relaxed) }
    private let refused = Atomic<UInt64>(0)
    private let subscription: FrameSubscription
    private let thread = Worker()

    /// Starts feeding `camera`'s H.264 frames to `push` (called on the feed's thread).
    init(camera: Camera, name: String,
         push: @escaping @Sendable (UnsafeBufferPointer<UInt8>, EncodedFrame, UnsafeRawBufferPointer) -> Int32) {
        subscription = camera.h264Bus.subscribe(capacity: 30)
        thread.start(name: name) { [self] in run(push) }
    }

    private func run(_ push: (UnsafeBufferPointer<UInt8>, EncodedFrame, UnsafeRawBufferPointer) -> Int32) {
        var sender = AccessUnitSender()
        while let frame = subscription.next() {
            switch sender.send(frame, push) {
            case .sent: sent.add(1, ordering: .relaxed)
            case .dropped: refused.add(1, ordering: .relaxed)
            case .idle, .held: break
            }
        }
    }

    /// Stops taking frames and waits for the thread.
    func stop() {
        subscription.cancel()
        thread.stop()
    }
}
