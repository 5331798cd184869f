import Foundation
import Synchronization

/// When the car was parked: one line per ignition change (`UNIX-SECONDS parked` or `UNIX-SECONDS driving`) in
/// `.blackbox/parking.log` under the recordings root, so that the timeline can shade parked spans of any day. A few
/// lines a day; kept under 64 KiB by dropping its older half.
public final class ParkingJournal: Sendable {
    private let path: String
    private let lock = Mutex(())

    /// Largest size before the older half is dropped.
    static let limit = 65_536

    /// The journal under `root`.
    public init(root: String) {
        path = root + "/.blackbox/parking.log"
    }

    /// Notes that the car was parked (or driven again) at `seconds`.
    public func append(parked: Bool, at seconds: Double) {
        lock.withLock { _ in
            var text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            text += String(format: "%.3f %@\n", seconds, parked ? "parked" : "driving")
            if text.utf8.count > Self.limit {
                let lines = text.split(separator: "\n")
                text = lines.suffix(lines.count / 2).joined(separator: "\n") + "\n"
            }
            try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try? text.write(toFile: path, atomically: true, encoding: .utf8)
        }
    }

    /// The parked spans overlapping [`from`, `to`) (Unix seconds); one still going ends at `now`.
    public func spans(from: Double, to: Double, now: Double) -> [(start: Double, end: Double)] {
        let text = lock.withLock { _ in (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        var spans: [(start: Double, end: Double)] = []
        var since: Double?
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let t = Double(parts[0]) else { continue }
            if parts[1] == "parked" {
                if since == nil { since = t }
            } else if let s = since {
                spans.append((s, t))
                since = nil
            }
        }
        if let s = since { spans.append((s, max(s, now))) }
        return spans.filter { $0.end > from && $0.start < to }.map { (max($0.start, from), min($0.end, to)) }
    }
}
