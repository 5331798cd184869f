import Encoding
#if canImport(Glibc)
import Glibc
#endif

/// What `blackbox recordings verify` found in one file.
public struct VerifyReport: Sendable {
    /// The file.
    public var path: String
    /// Frames in complete fragments.
    public var frames: Int
    /// Seconds of video.
    public var duration: Double
    /// Complete fragments.
    public var fragments: Int
    /// Jumps in time larger than three frame intervals: (at seconds, length seconds).
    public var gaps: [(at: Double, seconds: Double)]
    /// Damage found; empty for a sound file.
    public var problems: [String]

    /// Whether the file is sound.
    public var isSound: Bool { problems.isEmpty }
}

/// Checks recordings fragment by fragment: structure, JPEG markers of every frame, timestamps.
public enum Verifier {
    /// Verifies the MP4 at `path`.
    public static func verify(path: String) -> VerifyReport {
        var report = VerifyReport(path: path, frames: 0, duration: 0, fragments: 0, gaps: [], problems: [])
        let scan: MP4Scan
        do {
            scan = try MP4Reader.scan(path: path)
        } catch {
            report.problems.append(error.description)
            return report
        }
        report.problems += scan.problems
        report.frames = scan.frameCount
        report.duration = scan.duration
        report.fragments = scan.fragments.count
        if scan.validEnd < scan.fileSize {
            report.problems.append("\(scan.fileSize - scan.validEnd) bytes after the last complete fragment (cut off)")
        }
        if scan.fragments.isEmpty { report.problems.append("no complete fragment") }
        if path.hasSuffix(MP4File.partSuffix) { report.problems.append("unfinished segment (recovered at the next start)") }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            report.problems.append("cannot open: \(String(cString: strerror(errno)))")
            return report
        }
        defer { close(fd) }
        let all = scan.fragments.flatMap(\.durations).filter { $0 > 0 }.sorted()
        let typical = all.isEmpty ? 0 : Double(all[all.count / 2])
        var expected: UInt64?
        for fragment in scan.fragments {
            if let expected, fragment.baseTime < expected {
                report.problems.append("fragment \(fragment.sequence) starts before the previous one ends (timestamps go back)")
            } else if let expected, typical > 0, Double(fragment.baseTime - expected) > 3 * typical {
                report.gaps.append((Double(expected) / Double(scan.timescale), Double(fragment.baseTime - expected) / Double(scan.timescale)))
            }
            var t = fragment.baseTime
            var offset = fragment.dataOffset
            for (i, (size, duration)) in zip(fragment.sizes, fragment.durations).enumerated() {
                if duration == 0 { report.problems.append("fragment \(fragment.sequence) frame \(i): zero duration") }
                if typical > 0, Double(duration) > 3 * typical {
                    report.gaps.append((Double(t) / Double(scan.timescale), Double(duration) / Double(scan.timescale)))
                }
                switch scan.codec {
                case .mjpeg:
                    let head = MP4Reader.read(fd, at: offset, count: 2), tail = MP4Reader.read(fd, at: offset + Int(size) - 2, count: 2)
                    if size < 4 || head != [0xFF, 0xD8] || tail != [0xFF, 0xD9] {
                        report.problems.append("fragment \(fragment.sequence) frame \(i): not a complete JPEG")
                    }
                case .h264:
                    if let problem = Self.checkAccessUnit(MP4Reader.read(fd, at: offset, count: Int(size)) ?? [],
                                                          keyframe: fragment.keyframes.indices.contains(i) ? fragment.keyframes[i] : true) {
                        report.problems.append("fragment \(fragment.sequence) frame \(i): \(problem)")
                    }
                    if i == 0, fragment.keyframes.first == false {
                        report.problems.append("fragment \(fragment.sequence) does not start with a keyframe")
                    }
                }
                offset += Int(size)
                t += UInt64(duration)
            }
            expected = t
        }
        return report
    }

    /// Why an H.264 sample is not a sequence of length-prefixed NAL units (with an IDR picture when
    /// it is marked as a keyframe), or nil when it is one.
    static func checkAccessUnit(_ bytes: [UInt8], keyframe: Bool) -> String? {
        var i = 0
        var sawIDR = false
        while i < bytes.count {
            guard i + 4 <= bytes.count else { return "a NAL unit length is cut off" }
            let length = bytes[i..<i + 4].reduce(0) { $0 << 8 | Int($1) }
            guard length > 0, i + 4 + length <= bytes.count else { return "a NAL unit runs past the sample" }
            if bytes[i + 4] & 0x1F == 5 { sawIDR = true }
            i += 4 + length
        }
        guard !bytes.isEmpty else { return "empty sample" }
        return keyframe && !sawIDR ? "marked as a keyframe but holds no IDR picture" : nil
    }
}
