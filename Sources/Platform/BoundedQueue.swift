#if canImport(Glibc)
import Glibc
#endif

/// A fixed-capacity queue shared between threads (FIFO, or LIFO for free lists): producers never block, consumers may.
///
/// Used where a dedicated thread consumes work (encoder workers, the recorder). `offer` refuses
/// when full so that the producer (the capture loop) can drop and count instead of waiting.
public final class BoundedQueue<Element>: @unchecked Sendable {
    /// Which element a take removes.
    public enum Order: Sendable {
        /// The oldest: work in arrival order.
        case oldestFirst
        /// The newest: a free list hands out the buffer used last, so the ones never needed stay untouched (no resident
        /// pages) and the one handed out is still in the cache.
        case newestFirst
    }

    /// Maximum number of queued elements.
    public let capacity: Int
    private let order: Order
    private var ring: [Element?]
    private var head = 0
    private var size = 0
    private var closed = false
    private var mutex = pthread_mutex_t()
    private var notEmpty = pthread_cond_t()
    private var notFull = pthread_cond_t()

    /// Creates an empty queue holding at most `capacity` elements, taken in `order`.
    public init(capacity: Int, order: Order = .oldestFirst) {
        precondition(capacity > 0)
        self.capacity = capacity
        self.order = order
        ring = Array(repeating: nil, count: capacity)
        pthread_mutex_init(&mutex, nil)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(&notEmpty, &attr)
        pthread_cond_init(&notFull, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(&notEmpty)
        pthread_cond_destroy(&notFull)
        pthread_mutex_destroy(&mutex)
    }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return body()
    }

    // Waiters are woken after the lock is let go: a consumer woken while the producer still held it ran only to block
    // on the lock and be woken again, two more sleeps and wake-ups per frame and queue (seen with strace). A waiter
    // checks the queue under the lock before it sleeps, so no wake-up is lost.

    private func push(_ element: Element) {
        ring[(head + size) % capacity] = element
        size += 1
    }

    /// Appends `element` unless the queue is full or closed; never blocks.
    public func offer(_ element: Element) -> Bool {
        let pushed = locked {
            guard !closed, size < capacity else { return false }
            push(element)
            return true
        }
        if pushed { pthread_cond_signal(&notEmpty) }
        return pushed
    }

    /// Appends `element`, waiting while the queue is full; false when the queue is closed.
    /// Only for producers that may wait (benchmarks, file replay) — never the capture loop.
    public func put(_ element: Element) -> Bool {
        let pushed = locked {
            while !closed && size == capacity { pthread_cond_wait(&notFull, &mutex) }
            guard !closed else { return false }
            push(element)
            return true
        }
        if pushed { pthread_cond_signal(&notEmpty) }
        return pushed
    }

    /// Removes the next element (in the queue's order) if there is one; never blocks.
    public func tryTake() -> Element? {
        let element = locked { size > 0 ? pop() : nil }
        if element != nil { pthread_cond_signal(&notFull) }
        return element
    }

    private func pop() -> Element? {
        let index = order == .oldestFirst ? head : (head + size - 1) % capacity
        let element = ring[index]
        ring[index] = nil
        if order == .oldestFirst { head = (head + 1) % capacity }
        size -= 1
        return element
    }

    /// Removes the next element (in the queue's order), waiting up to `timeoutNanos` (forever when nil).
    /// Returns nil on timeout, or once the queue is closed and empty.
    public func take(timeoutNanos: UInt64? = nil) -> Element? {
        let element: Element? = locked {
            if size == 0 && !closed {
                if let timeoutNanos {
                    var deadline = timespec()
                    clock_gettime(CLOCK_MONOTONIC, &deadline)
                    let total = UInt64(deadline.tv_nsec) + timeoutNanos
                    deadline.tv_sec += Int(total / 1_000_000_000)
                    deadline.tv_nsec = Int(total % 1_000_000_000)
                    while size == 0 && !closed {
                        if pthread_cond_timedwait(&notEmpty, &mutex, &deadline) == ETIMEDOUT { break }
                    }
                } else {
                    while size == 0 && !closed { pthread_cond_wait(&notEmpty, &mutex) }
                }
            }
            guard size > 0 else { return nil }
            return pop()
        }
        if element != nil { pthread_cond_signal(&notFull) }
        return element
    }

    /// Refuses further elements and wakes every waiter; queued elements can still be taken.
    public func close() {
        locked {
            closed = true
            pthread_cond_broadcast(&notEmpty)
            pthread_cond_broadcast(&notFull)
        }
    }

    /// Removes and returns everything queued (to release resources the elements hold).
    public func drain() -> [Element] {
        locked {
            var out: [Element] = []
            while size > 0 {
                if let e = ring[head] { out.append(e) }
                ring[head] = nil
                head = (head + 1) % capacity
                size -= 1
            }
            pthread_cond_broadcast(&notFull)
            return out
        }
    }

    /// Number of queued elements.
    public var count: Int { locked { size } }

    /// Whether `close()` has been called.
    public var isClosed: Bool { locked { closed } }
}
