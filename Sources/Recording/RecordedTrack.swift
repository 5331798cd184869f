import Telemetry

/// The GPS track and the accelerometer's readings recorded in a camera's files over a span: every report whose recorded
/// time is in [from, to), in time order (segments overlap nothing; a report is kept once).
public enum RecordedTrack {
    /// The points of `files` in the span (Unix nanoseconds); blocking reads (call it off the event loop).
    public static func points(files: [String], from: Int64, to: Int64) -> [TrackPoint] {
        var points: [TrackPoint] = []
        for path in files {
            guard let samples = try? MetadataTrackReader.samples(path: path, cammType: GPSFix.cammType) else { continue }
            for s in samples where s.wallNanos >= from && s.wallNanos < to {
                if let fix = GPSFix(cammRecord: s.bytes[...], monotonicNanos: 0) { points.append(TrackPoint(wallNanos: s.wallNanos, fix: fix)) }
            }
        }
        points.sort { $0.wallNanos < $1.wallNanos }
        // The same report can sit in two files only if they overlap; keep the first.
        return points.enumerated().filter { i, p in i == 0 || p.wallNanos != points[i - 1].wallNanos }.map(\.element)
    }

    /// The accelerometer's peak change from gravity (g) in each of `buckets` equal parts of [from, to) of `files` (nil
    /// where nothing was recorded); blocking reads. Gravity, at the sensor's mounting angle, is each file's median
    /// reading per axis: a knock lasts a fraction of a second and does not move a median of a segment's thousands of
    /// readings, where a running estimate learned at a file's start would take in a knock that falls there.
    public static func gForce(files: [String], from: Int64, to: Int64, buckets: Int) -> [Double?] {
        var peaks = [Double?](repeating: nil, count: buckets)
        let width = max(1, (to - from) / Int64(buckets))
        for path in files {
            var readings: [(wall: Int64, sample: AccelSample)] = []
            try? MetadataTrackReader.forEach(path: path, cammType: AccelSample.cammType) { wall, bytes in
                if let sample = AccelSample(cammRecord: bytes, monotonicNanos: 0) { readings.append((wall, sample)) }
            }
            guard !readings.isEmpty else { continue }
            func median(_ axis: (AccelSample) -> Double) -> Double {
                let sorted = readings.map { axis($0.sample) }.sorted()
                return sorted[sorted.count / 2]
            }
            let gx = median(\.x), gy = median(\.y), gz = median(\.z)
            for (wall, s) in readings where wall >= from && wall < to {
                let dx = s.x - gx, dy = s.y - gy, dz = s.z - gz
                let change = (dx * dx + dy * dy + dz * dz).squareRoot() / AccelSample.standardGravity
                let i = min(buckets - 1, Int((wall - from) / width))
                peaks[i] = max(peaks[i] ?? 0, change)
            }
        }
        return peaks
    }
}
