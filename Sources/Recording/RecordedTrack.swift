import Telemetry

/// The GPS track recorded in a camera's files over a span: every report whose recorded time is in [from, to), in time
/// order (segments overlap nothing; a report is kept once).
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
}
