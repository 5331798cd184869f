import Encoding
import FrameBus
import Testing

@Suite("Frame bus")
struct FrameBusTests {
    @Test("a viewer gets the newest frame and the skipped ones are counted")
    func latestFrameSemantics() async {
        let bus = FrameBus()
        for s in 1...5 { bus.publish(fakeEncoded(UInt64(s))) }
        #expect(await bus.next(after: nil)?.sequence == 5)
        let viewer = bus.join()
        #expect(await bus.next(for: viewer)?.sequence == 5)
        bus.publish(fakeEncoded(6))
        bus.publish(fakeEncoded(7))
        #expect(await bus.next(for: viewer)?.sequence == 7)
        #expect(bus.viewerSkipped == 1)
    }

    @Test("a viewer that joins with a frame it already has waits for a newer one, and what it misses after is counted")
    func joinsAfterAFrame() async {
        let bus = FrameBus()
        bus.publish(fakeEncoded(1))
        let viewer = bus.join(after: fakeEncoded(1))
        async let next = bus.next(for: viewer)
        try? await Task.sleep(for: .milliseconds(20))
        bus.publish(fakeEncoded(2))
        #expect(await next?.sequence == 2)
        #expect(bus.viewerSkipped == 0)
        let other = FrameBus()
        other.publish(fakeEncoded(2))
        let late = other.join(after: fakeEncoded(2))
        for s in 3...5 { other.publish(fakeEncoded(UInt64(s))) }
        #expect(await other.next(for: late)?.sequence == 5)
        #expect(other.viewerSkipped == 2)
    }

    @Test("a stalled viewer's missed frames are counted while it stalls and after it leaves")
    func stalledViewerIsCounted() async {
        let bus = FrameBus()
        bus.publish(fakeEncoded(1))
        let stalled = bus.join()
        #expect(await bus.next(for: stalled)?.sequence == 1)
        // The viewer never asks again (its socket is full); 10 frames go by: 9 are skipped, the
        // newest is still on offer.
        for s in 2...11 { bus.publish(fakeEncoded(UInt64(s))) }
        #expect(bus.viewerSkipped == 9)
        // It leaves without the newest: all 10 were missed; later frames are nobody's loss.
        bus.leave(stalled)
        bus.publish(fakeEncoded(12))
        #expect(bus.viewerSkipped == 10)
    }

    @Test("a viewer that is up to date waits for the next frame")
    func waitsForNewer() async {
        let bus = FrameBus()
        bus.publish(fakeEncoded(1))
        async let next = bus.next(after: 1)
        // The waiter is registered or about to be; either way it must get frame 2, not frame 1.
        while bus.published.load(ordering: .relaxed) < 1 { await Task.yield() }
        try? await Task.sleep(for: .milliseconds(20))
        bus.publish(fakeEncoded(2))
        #expect(await next?.sequence == 2)
    }

    @Test("closing the bus ends waiting viewers with nil")
    func closeEndsViewers() async {
        let bus = FrameBus()
        let waiter = Task { await bus.next(after: nil) }
        try? await Task.sleep(for: .milliseconds(20))
        bus.close()
        #expect(await waiter.value == nil)
        #expect(await bus.next(after: nil) == nil)
    }

    @Test("cancelling a waiting viewer returns nil")
    func cancellation() async {
        let bus = FrameBus()
        let waiter = Task { await bus.next(after: nil) }
        try? await Task.sleep(for: .milliseconds(20))
        waiter.cancel()
        #expect(await waiter.value == nil)
    }

    @Test("a bounded subscription keeps order and counts what it had to drop")
    func boundedSubscription() {
        let bus = FrameBus()
        let sub = bus.subscribe(capacity: 3)
        for s in 1...10 { bus.publish(fakeEncoded(UInt64(s))) }
        #expect(sub.received.load(ordering: .relaxed) == 3)
        #expect(sub.dropped.load(ordering: .relaxed) == 7)
        #expect([sub.next(), sub.next(), sub.next()].map { $0?.sequence } == [1, 2, 3])
        #expect(sub.next(timeoutNanos: 1_000_000) == nil)
        bus.publish(fakeEncoded(11))
        #expect(sub.next()?.sequence == 11)
        sub.cancel()
        bus.publish(fakeEncoded(12))
        #expect(sub.next(timeoutNanos: 1_000_000) == nil)
    }

    @Test("closing the bus ends subscriptions after their backlog")
    func closeEndsSubscriptions() {
        let bus = FrameBus()
        let sub = bus.subscribe(capacity: 4)
        bus.publish(fakeEncoded(1))
        bus.close()
        #expect(sub.next()?.sequence == 1)
        #expect(sub.next() == nil)
    }
}

extension EncodedFrame: Equatable {
    public static func == (a: EncodedFrame, b: EncodedFrame) -> Bool { a.sequence == b.sequence && a.codec == b.codec && a.bytes == b.bytes }
}
