import Cameras
import Capture
import Evidence
@testable import Encoding
import FrameBus
import Frames
@testable import Platform
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Renders test-pattern frames without running the source's thread.
enum TestPatternFixture {
    static func frame(id: String = "front", width: Int, height: Int, sequence: UInt64 = 0) -> (frame: RawFrame, source: TestPatternSource) {
        let source = TestPatternSource(cameraID: id, geometry: FrameGeometry(width: width, height: height, fps: 30), poolSize: 2)
        return (source.makeFrame(in: source.acquireBuffer()!, sequence: sequence), source)
    }
}

@Suite("Buffers and queues")
struct BufferTests {
    @Test("a pool lends each buffer once and takes it back")
    func poolLendsAndTakesBack() {
        let pool = BufferPool(count: 2, bytesPerBuffer: 64)
        let a = pool.acquire(), b = pool.acquire()
        #expect(a != nil && b != nil && a !== b)
        #expect(pool.acquire() == nil)
        a?.release()
        #expect(pool.available == 1)
        #expect(pool.acquire() === a)
    }

    @Test("the buffer given back last is lent first, so a buffer only a burst needed stays untouched")
    func poolLendsNewestFirst() {
        let pool = BufferPool(count: 4, bytesPerBuffer: 64)
        let a = pool.acquire(), b = pool.acquire(), c = pool.acquire()
        a?.release(); c?.release(); b?.release()
        #expect(pool.acquire() === b)
        #expect(pool.acquire() === c)
        #expect(pool.acquire() === a)
        let q = BoundedQueue<Int>(capacity: 3, order: .newestFirst)
        #expect(q.offer(1) && q.offer(2) && q.offer(3))
        #expect(q.tryTake() == 3)
        #expect(q.offer(4))
        #expect([q.take(), q.take(), q.take()] == [4, 2, 1])
    }


    @Test("buffers a burst touched give their pages back to the kernel once frames have passed without them")
    func poolGivesIdlePagesBack() throws {
        let bytes = 1 << 20
        let pool = BufferPool(count: 4, bytesPerBuffer: bytes)
        func resident(_ buffer: BufferPool.Buffer) -> Int { residentPages(buffer.bytes, count: buffer.count) }
        // A burst: all four lent at once and written, as when the encoder starts late.
        let burst = (0..<4).compactMap { _ in pool.acquire() }
        #expect(burst.count == 4)
        for buffer in burst { memset(buffer.bytes, 0x5A, buffer.count) }
        let pages = resident(burst[0])
        #expect(pages >= bytes / Int(sysconf(Int32(_SC_PAGESIZE))))
        for buffer in burst { buffer.release() }
        #expect(pool.touched == 4)
        // Steady state: one buffer at a time, lent and given back (the last given back is lent first), until the burst's
        // buffers have gone a whole check period unlent.
        var used: BufferPool.Buffer?
        for _ in 0..<(2 * BufferPool.idleLends - 4) {
            let buffer = try #require(pool.acquire())
            memset(buffer.bytes, 0x33, 4096)
            used = buffer
            buffer.release()
        }
        let steady = try #require(used)
        #expect(pool.touched == 1)
        #expect(resident(steady) > 0)
        for buffer in burst where buffer !== steady {
            #expect(resident(buffer) == 0)
            // Lent again, it reads as zero until written: nothing of an old frame leaks.
            #expect(buffer.bytes.load(fromByteOffset: 100, as: UInt8.self) == 0)
        }
    }
    @Test("a full queue refuses instead of blocking, and close wakes a waiting consumer")
    func boundedQueue() {
        let q = BoundedQueue<Int>(capacity: 2)
        #expect(q.offer(1) && q.offer(2))
        #expect(!q.offer(3))
        #expect(q.take() == 1)
        let done = Atomic<Bool>(false)
        let consumer = DedicatedThread(name: "test") {
            while q.take() != nil {}
            done.store(true, ordering: .releasing)
        }
        // The consumer took the last item and waits on the empty queue (still not done 200 ms later).
        let emptied = waitUntil(5) { q.count == 0 }
        usleep(200_000)
        let waiting = !done.load(ordering: .acquiring)
        #expect(emptied && waiting)
        q.close()
        let woken = waitUntil(5) { done.load(ordering: .acquiring) }
        #expect(woken)
        if woken { consumer.join() }
        #expect(!q.offer(4))
    }
}

@Suite("System calls")
struct SystemCallTests {
    @Test("once asked, the process keeps its memory in small pages: the kernel reports transparent huge pages off")
    func hugePagesOff() {
        #expect(disableTransparentHugePages())
        let status = (readSystemFile("/proc/self/status") ?? "").split(separator: "\n")
        #expect(status.contains("THP_enabled:\t0"), "\(status.filter { $0.hasPrefix("THP") })")
    }

    @Test("a descriptor's link names its file, and says ' (deleted)' once the file is gone")
    func linkTargetOfDeletedFile() throws {
        var template = Array("/tmp/blackbox-link-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        try #require(fd >= 0)
        defer { close(fd) }
        let path = String(cString: template)
        #expect(Directory.linkTarget("/proc/self/fd/\(fd)") == path)
        unlink(path)
        #expect(Directory.linkTarget("/proc/self/fd/\(fd)") == path + " (deleted)")
        #expect(Directory.linkTarget(path) == nil)
    }

    @Test("a gathered write puts every piece in order, more pieces than one writev takes and empty ones among them")
    func gatheredWrite() throws {
        var template = Array("/tmp/blackbox-writev-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        try #require(fd >= 0)
        let path = String(cString: template)
        defer { close(fd); unlink(path) }
        // 2500 pieces of 0 to 12 bytes, each byte its piece's number: a piece skipped, repeated or cut shows.
        let pieces = (0..<2500).map { i in [UInt8](repeating: UInt8(i % 251), count: i % 13) }
        let failure = pieces.flatMap { $0 }.withUnsafeBytes { writeFully(fd, FragmentDigest.split($0, sizes: pieces.map(\.count))) }
        #expect(failure == 0)
        let written = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(written == pieces.flatMap { $0 })
    }

    @Test("direct appends land at the file's end in whole blocks: the pieces in order, then the padding as filled")
    func directAppend() throws {
        // In the package's build folder, on disk: tmpfs (where /tmp may be) refuses O_DIRECT.
        var template = Array((FileManager.default.currentDirectoryPath + "/.build/direct-append-XXXXXX").utf8CString)
        let fd = mkstemp(&template)
        try #require(fd >= 0)
        let path = String(cString: template)
        defer { close(fd); unlink(path) }
        let start = [UInt8](repeating: 7, count: DirectAppender.block)
        #expect(write(fd, start, start.count) == start.count)
        let appender = try #require(DirectAppender(path: path, offset: start.count))
        var expected = start
        // Two appends of 5000 and 3 bytes in three pieces, each byte its piece's number, padded to blocks with 0xEE.
        for sizes in [[1000, 0, 4000], [1, 1, 1]] {
            let pieces = sizes.enumerated().map { i, n in [UInt8](repeating: UInt8(i + 1), count: n) }
            let count = sizes.reduce(0, +)
            let padding = DirectAppender.padding(after: count, minimum: 8)
            #expect(padding >= 8 && (count + padding) % DirectAppender.block == 0)
            let failure = pieces.flatMap { $0 }.withUnsafeBytes {
                appender.append(FragmentDigest.split($0, sizes: sizes), padding: padding) { $0.initializeMemory(as: UInt8.self, repeating: 0xEE) }
            }
            #expect(failure == 0)
            expected += pieces.flatMap { $0 } + [UInt8](repeating: 0xEE, count: padding)
        }
        #expect(appender.offset == expected.count)
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))) == expected)
    }
}

@Suite("Mapped code", .serialized)
struct MappedCodeTests {
    /// Bytes of the process's read-only file mappings that are resident now.
    private func resident() -> Int {
        MappedCode.mappings(readSystemFile("/proc/self/smaps") ?? "").reduce(0) { $0 + $1.residentBytes }
    }

    @Test("trimming unmaps the code start-up mapped: what runs after comes back page by page")
    func trimLeavesTheCodeThatRuns() {
        let before = resident()
        let unmapped = MappedCode.trim()
        let after = resident()
        #expect(before > 4 << 20, "resident read-only mappings before: \(before) bytes")
        #expect(unmapped > before / 2, "unmapped \(unmapped) of \(before) bytes")
        #expect(after < before / 2, "resident read-only mappings: \(before) bytes before, \(after) after")
    }

    @Test("a read-only file mapping that is no loaded segment is left mapped, as a library being loaded is")
    func leavesOtherMappings() throws {
        // What the loader maps first for a library it is loading: the file read-only and private, not yet in its list. The
        // loader maps the data over part of it and relocates it next; unmapping that range lost the relocations.
        let path = "/proc/self/exe"
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        #expect(fd >= 0)
        defer { close(fd) }
        let length = 64 << 10
        let mapped = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0)
        let base = try #require(mapped == MAP_FAILED ? nil : mapped)
        defer { munmap(base, length) }
        var sum = 0
        for offset in stride(from: 0, to: length, by: 4096) { sum &+= Int(base.load(fromByteOffset: offset, as: UInt8.self)) }
        let start = UInt(bitPattern: base)
        func rss() -> Int? {
            MappedCode.mappings(readSystemFile("/proc/self/smaps") ?? "").first { $0.start == start }?.residentBytes
        }
        #expect(rss() == length, "resident before the trim (sum \(sum))")
        _ = MappedCode.trim()
        #expect(rss() == length, "resident after the trim")
    }

    @Test("the program file's pages that nothing maps leave the page cache; the code that runs stays")
    func dropsUnmappedCache() throws {
        let exe = try #require(Directory.linkTarget("/proc/self/exe"))
        // The program's code mapping; mincore tells which of its pages the page cache holds, mapped here or not.
        let line = try #require((readSystemFile("/proc/self/maps") ?? "").split(separator: "\n")
            .first { $0.hasSuffix(exe) && $0.contains(" r-xp ") })
        let range = line.split(separator: " ")[0].split(separator: "-").compactMap { UInt(String($0), radix: 16) }
        let base = try #require(UnsafeMutableRawPointer(bitPattern: range[0]))
        let cached = { residentPages(base, count: Int(range[1] - range[0])) }
        _ = MappedCode.trim()
        let before = cached()
        #expect(MappedCode.dropUnmappedCache())
        let after = cached()
        #expect(after > 0, "the code running now stays cached")
        #expect(after < before / 2, "cached pages of \(exe): \(before) before, \(after) after")
    }

    @Test("only read-only mappings of files are taken, with their resident and written sizes")
    func readsReadOnlyFileMappings() {
        let smaps = """
        55d0c0000000-55d0c0400000 r-xp 00001000 08:01 42                         /usr/bin/blackbox
        Size:               4096 kB
        Rss:                 128 kB
        Anonymous:             0 kB
        VmFlags: rd ex mr mw me
        55d0c0400000-55d0c0500000 r--p 00401000 08:01 42                         /usr/bin/blackbox
        Rss:                  64 kB
        Anonymous:             8 kB
        55d0c0500000-55d0c0600000 rw-p 00501000 08:01 42                         /usr/bin/blackbox
        Rss:                  64 kB
        Anonymous:            64 kB
        7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
        Rss:                  12 kB
        7ffd00100000-7ffd00102000 r-xp 00000000 00:00 0                          [vdso]
        Rss:                   8 kB
        7f0000000000-7f0000001000 r--p 00000000 00:00 0 
        Rss:                   4 kB
        """
        #expect(MappedCode.mappings(smaps) == [
            MappedCode.Mapping(start: 0x55d0c0000000, end: 0x55d0c0400000, residentBytes: 128 << 10, writtenBytes: 0),
            MappedCode.Mapping(start: 0x55d0c0400000, end: 0x55d0c0500000, residentBytes: 64 << 10, writtenBytes: 8 << 10),
        ])
    }
}

@Suite("Test pattern")
struct TestPatternTests {
    @Test("successive frames differ")
    func framesMove() {
        let source = TestPatternSource(cameraID: "front", geometry: FrameGeometry(width: 320, height: 240, fps: 30), poolSize: 2)
        let a = source.makeFrame(in: source.acquireBuffer()!, sequence: 10)
        let b = source.makeFrame(in: source.acquireBuffer()!, sequence: 11)
        #expect(samples(a.planes[0]) != samples(b.planes[0]))
        a.storage.release(); b.storage.release()
    }

    @Test("the camera id is drawn in the picture")
    func idVisible() {
        let front = TestPatternFixture.frame(id: "front", width: 320, height: 240, sequence: 0)
        let rear = TestPatternFixture.frame(id: "rear", width: 320, height: 240, sequence: 0)
        defer { front.frame.storage.release(); rear.frame.storage.release() }
        // Same sequence, same motion: only the id label differs, and it sits in the upper part.
        let a = samples(front.frame.planes[0]), b = samples(rear.frame.planes[0])
        let differing = zip(a, b).enumerated().filter { $0.element.0 != $0.element.1 }.map { $0.offset / 320 }
        #expect(!differing.isEmpty)
        #expect(differing.allSatisfy { $0 < 240 * 3 / 5 })
    }

    @Test("the source paces frames in order and delivers none after stop returns")
    func runsAndStops() throws {
        let source = TestPatternSource(cameraID: "t", geometry: FrameGeometry(width: 64, height: 48, fps: 50), poolSize: 4)
        let seen = Mutex<[UInt64]>([])
        let began = MonotonicClock.nanos()
        try source.start { frame in
            seen.withLock { $0.append(frame.sequence) }
            frame.storage.release()
        }
        while seen.withLock({ $0.count }) < 10 { usleep(5000) }
        // Paced at 50 fps: ten frames take at least nine intervals of 20 ms (a loop without pacing takes microseconds).
        let elapsed = Double(MonotonicClock.nanos() - began) / 1e9
        #expect(elapsed >= 0.17, "10 frames in \(elapsed) s")
        source.stop()
        let count = seen.withLock { $0.count }
        usleep(50_000)
        #expect(seen.withLock { $0.count } == count)  // nothing after stop returned
        #expect(seen.withLock { $0 } == seen.withLock { $0 }.sorted())
    }
}

@Suite("Encoder pool")
struct EncoderPoolTests {
    @Test("the encode-time observer is called at the same stack depth on the 10,000th frame as on the first")
    func observerDoesNotDeepen() {
        // A closure held directly as a Mutex's value was wrapped in two more thunks at every frame: each call went
        // deeper into the stack (a daemon would have overflowed it within hours).
        let stats = EncodeStats()
        let depths = Mutex<[UInt]>([])
        stats.observe { _ in
            var marker = 0
            let address = withUnsafeMutablePointer(to: &marker) { UInt(bitPattern: $0) }
            depths.withLock { $0.append(address) }
        }
        for n in 0..<10_000 { stats.record(nanos: UInt64(n)) }
        let seen = depths.withLock { $0 }
        #expect(seen.count == 10_000)
        if let first = seen.first, let last = seen.last {
            #expect(first > last ? first - last < 4096 : last - first < 4096, "the stack at the 10,000th call is \(Int(first) - Int(last)) bytes deeper")
        }
    }

    @Test("frames come out in capture order with several workers")
    func ordered() throws {
        let out = Mutex<[UInt64]>([])
        let pool = try EncoderPool(workers: 4, settings: EncoderSettings(quality: 70, overlay: true, label: "t")) { frame in
            out.withLock { $0.append(frame.sequence) }
        }
        let source = TestPatternSource(cameraID: "t", geometry: FrameGeometry(width: 320, height: 240, fps: 30), poolSize: 10)
        for s in 0..<120 {
            var buffer = source.acquireBuffer()
            while buffer == nil { usleep(500); buffer = source.acquireBuffer() }
            #expect(pool.submitWaiting(source.makeFrame(in: buffer!, sequence: UInt64(s))))
        }
        pool.stop()
        #expect(out.withLock { $0 } == Array(0..<120))
        #expect(pool.stats.encoded.load(ordering: .relaxed) == 120)
        #expect(pool.stats.encodeMillis() != nil)
    }
}

@Suite("Camera")
struct CameraTests {
    @Test("a camera publishes valid JPEGs of its size and ends its subscriptions when stopped")
    func publishesAndStops() throws {
        let camera = try Camera(config: CameraConfig(id: "front", geometry: FrameGeometry(width: 160, height: 120, fps: 60), workers: 2))
        // Without a recorder JPEGs are made for viewers only: this test is one.
        camera.jpegDemand.viewers.add(1, ordering: .relaxed)
        let sub = camera.bus.subscribe(capacity: 64)
        try camera.start()
        var frames: [EncodedFrame] = []
        while frames.count < 5, let f = sub.next(timeoutNanos: 5_000_000_000) { frames.append(f) }
        camera.stop()
        while sub.next() != nil {}
        #expect(frames.count == 5)
        #expect(zip(frames, frames.dropFirst()).allSatisfy { $0.sequence < $1.sequence })
        let decoder = try JPEGDecoder()
        for f in frames {
            let info = try f.bytes.withUnsafeReadableBytes { try decoder.info($0) }
            #expect(info == JPEGInfo(width: 160, height: 120))
        }
        #expect(camera.status().state == "stopped")
        #expect(camera.bus.isClosed)
    }
}
