import Evidence
import Recording
#if canImport(Glibc)
import Glibc
#endif

/// What signing costs on real recordings: hashing every sample and signing the chain value, per fragment.
enum SigningBench {
    /// CPU per fragment and bytes added per fragment, measured on the fragments of `path`.
    struct Cost {
        var fragments: Int
        var cpuPerFragment: Double
        var bytesPerFragment: Int
        var mediaBytesPerFragment: Int
    }

    /// Hashes and signs every fragment of `path` again `rounds` times (the recorder's work), timed on this thread.
    static func measure(path: String, rounds: Int = 5) throws -> Cost {
        let scan = try MP4Reader.scan(path: path)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StartupError("cannot open \(path)") }
        defer { close(fd) }
        let payloads: [[UInt8]] = scan.fragments.map { f in
            var bytes = [UInt8](repeating: 0, count: f.sizes.reduce(0) { $0 + Int($1) })
            _ = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(f.dataOffset)) }
            return bytes
        }
        guard !payloads.isEmpty else { throw StartupError("\(path) holds no fragment") }
        let chain = FragmentChain(id: "bench", key: DeviceKey.generate())
        var linkBytes = 0
        let started = threadCPUSeconds()
        for _ in 0..<rounds {
            for (fragment, payload) in zip(scan.fragments, payloads) {
                let digest = payload.withUnsafeBytes {
                    FragmentDigest(durations: fragment.durations, sizes: fragment.sizes.map(Int.init), keyframes: fragment.keyframes, bytes: $0)
                }
                linkBytes = chain.link(digest, wallStartNanos: 0, timescale: 90_000).encoded.count + 24  // + the uuid box header
            }
        }
        let cpu = threadCPUSeconds() - started
        let n = Double(rounds * payloads.count)
        return Cost(fragments: payloads.count, cpuPerFragment: cpu / n, bytesPerFragment: linkBytes,
                    mediaBytesPerFragment: payloads.reduce(0) { $0 + $1.count } / payloads.count)
    }
}
