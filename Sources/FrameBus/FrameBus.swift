import Encoding
import Frames
import Platform
import Synchronization

/// Fans encoded frames out to every consumer of one camera.
///
/// Live viewers use latest-frame semantics: `next(after:)` returns the newest frame, so a viewer
/// whose socket is slow skips frames instead of queueing them (there is no per-viewer queue).
/// Consumers that need every frame (the recorder) take a `FrameSubscription`, a bounded queue that
/// drops and counts when its consumer falls behind. `publish` never blocks.
public final class FrameBus: Sendable {
    private struct State {
        var latest: EncodedFrame?
        var waiters: [Int: CheckedContinuation<EncodedFrame?, Never>] = [:]
        var nextWaiter = 0
        var subscriptions: [ObjectIdentifier: FrameSubscription] = [:]
        var viewers: [ObjectIdentifier: LiveViewer] = [:]
        var closed = false
    }

    private let state = Mutex(State())
    /// Frames published.
    public let published = Atomic<UInt64>(0)
    /// Skips of viewers already counted (on delivery or when they left).
    private let settledSkips = Atomic<UInt64>(0)

    /// Frames that live viewers skipped because their connection was slower than the camera,
    /// including what stalled viewers are missing right now.
    public var viewerSkipped: UInt64 {
        let (latest, viewers) = state.withLock { ($0.latest?.sequence, Array($0.viewers.values)) }
        return settledSkips.load(ordering: .relaxed) + viewers.reduce(0) { $0 + $1.missing(latest: latest) }
    }

    /// Registers a live viewer (call `leave` when its connection ends); one that already has `frame` (sent before it
    /// joined, as the live stream's first keyframe is) is given only newer frames, and what it misses after is counted.
    public func join(after frame: EncodedFrame? = nil) -> LiveViewer {
        let viewer = LiveViewer()
        if let frame { viewer.delivered.store(frame.sequence &+ 1, ordering: .relaxed) }
        state.withLock { $0.viewers[ObjectIdentifier(viewer)] = viewer }
        return viewer
    }

    /// Unregisters a viewer, counting the frames it missed since its last one.
    public func leave(_ viewer: LiveViewer) {
        let latest = state.withLock { s -> UInt64? in
            s.viewers[ObjectIdentifier(viewer)] = nil
            return s.latest?.sequence
        }
        // The newest frame was still on offer while it was connected; now it is missed too.
        let delivered = viewer.delivered.load(ordering: .relaxed)
        if let latest, delivered != 0, latest >= delivered { settledSkips.add(latest - delivered + 1, ordering: .relaxed) }
    }

    /// The newest frame after the one `viewer` had last (waiting for one), counting what it skipped.
    public func next(for viewer: LiveViewer) async -> EncodedFrame? {
        let last = viewer.delivered.load(ordering: .relaxed)
        let frame = await next(after: last == 0 ? nil : last - 1)
        if let frame {
            if last != 0, frame.sequence > last { settledSkips.add(frame.sequence - last, ordering: .relaxed) }
            viewer.delivered.store(frame.sequence + 1, ordering: .relaxed)
        }
        return frame
    }

    /// Creates an open bus with no frame yet.
    public init() {}

    /// Makes `frame` the latest, wakes waiting viewers and queues it for every subscription.
    public func publish(_ frame: EncodedFrame) {
        let (waiters, subscriptions) = state.withLock { s -> ([CheckedContinuation<EncodedFrame?, Never>], [FrameSubscription]) in
            guard !s.closed else { return ([], []) }
            s.latest = frame
            let w = Array(s.waiters.values)
            s.waiters.removeAll(keepingCapacity: true)
            return (w, Array(s.subscriptions.values))
        }
        published.add(1, ordering: .relaxed)
        for w in waiters { w.resume(returning: frame) }
        for sub in subscriptions { sub.offer(frame) }
    }

    /// The newest frame, if any.
    public var latest: EncodedFrame? { state.withLock { $0.latest } }

    /// Whether `close()` has been called.
    public var isClosed: Bool { state.withLock { $0.closed } }

    /// The newest frame with a sequence number after `sequence` (any frame when nil), waiting for
    /// one if needed. Returns nil once the bus is closed or the calling task is cancelled.
    public func next(after sequence: UInt64?) async -> EncodedFrame? {
        let id = state.withLock { s -> Int in
            s.nextWaiter += 1
            return s.nextWaiter
        }
        let frame: EncodedFrame? = await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<EncodedFrame?, Never>) in
                let immediate: EncodedFrame?? = state.withLock { s in
                    if s.closed || Task.isCancelled { return .some(nil) }
                    if let latest = s.latest, sequence.map({ latest.sequence > $0 }) ?? true { return .some(latest) }
                    s.waiters[id] = c
                    return .none
                }
                if let immediate { c.resume(returning: immediate) }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(returning: nil)
        }
        return frame
    }

    /// Starts a bounded subscription that receives every frame published from now on.
    public func subscribe(capacity: Int) -> FrameSubscription {
        let sub = FrameSubscription(capacity: capacity, bus: self)
        state.withLock { s in
            if s.closed { sub.queue.close() } else { s.subscriptions[ObjectIdentifier(sub)] = sub }
        }
        return sub
    }

    fileprivate func remove(_ sub: FrameSubscription) {
        state.withLock { _ = $0.subscriptions.removeValue(forKey: ObjectIdentifier(sub)) }
    }

    /// Ends the bus: waiting viewers get nil, subscriptions are closed, later frames are ignored.
    public func close() {
        let (waiters, subscriptions) = state.withLock { s -> ([CheckedContinuation<EncodedFrame?, Never>], [FrameSubscription]) in
            s.closed = true
            defer { s.waiters.removeAll(); s.subscriptions.removeAll() }
            return (Array(s.waiters.values), Array(s.subscriptions.values))
        }
        for w in waiters { w.resume(returning: nil) }
        for sub in subscriptions { sub.queue.close() }
    }
}

/// One live viewer's place in the stream: the frames published after its last one and not
/// delivered are the ones it skipped (a stalled connection skips every frame until it ends).
public final class LiveViewer: Sendable {
    /// Sequence number + 1 of the last frame delivered; 0 before the first.
    fileprivate let delivered = Atomic<UInt64>(0)

    /// Frames published after its last one, but for the newest (which it may still get).
    fileprivate func missing(latest: UInt64?) -> UInt64 {
        let last = delivered.load(ordering: .relaxed)
        guard last != 0, let latest, latest >= last else { return 0 }
        return latest - last
    }
}

/// A consumer's bounded queue of every frame from a bus (for the recorder and similar).
public final class FrameSubscription: Sendable {
    fileprivate let queue: BoundedQueue<EncodedFrame>
    private weak let bus: FrameBus?
    /// Frames lost because the queue was full when they were published.
    public let dropped = Atomic<UInt64>(0)
    /// Frames queued.
    public let received = Atomic<UInt64>(0)

    fileprivate init(capacity: Int, bus: FrameBus) {
        queue = BoundedQueue(capacity: capacity)
        self.bus = bus
    }

    fileprivate func offer(_ frame: EncodedFrame) {
        if queue.offer(frame) {
            received.add(1, ordering: .relaxed)
        } else if !queue.isClosed {
            dropped.add(1, ordering: .relaxed)
        }
    }

    /// The next frame, waiting up to `timeoutNanos` (forever when nil); nil on timeout or once
    /// the subscription is cancelled and drained. Blocks: call from a dedicated thread.
    public func next(timeoutNanos: UInt64? = nil) -> EncodedFrame? {
        queue.take(timeoutNanos: timeoutNanos)
    }

    /// Whether the subscription is cancelled (or its bus closed) and every queued frame was read.
    public var isFinished: Bool { queue.isClosed && queue.count == 0 }

    /// Whether the subscription is cancelled (or its bus closed), read or not.
    public var isClosed: Bool { queue.isClosed }

    /// Frames waiting in the queue.
    public var backlog: Int { queue.count }

    /// Stops receiving frames; queued ones can still be read.
    public func cancel() {
        bus?.remove(self)
        queue.close()
    }
}
