import Foundation

/// A recorded GPS report and the wall-clock time it was recorded at (what places it on the timeline).
public struct TrackPoint: Sendable {
    /// When it was recorded, Unix nanoseconds.
    public var wallNanos: Int64
    /// The report.
    public var fix: GPSFix

    /// A point recorded at `wallNanos`.
    public init(wallNanos: Int64, fix: GPSFix) {
        self.wallNanos = wallNanos
        self.fix = fix
    }

    /// The time a file states for this point: the receiver's when it gave one, else when it was recorded.
    public var seconds: Double { fix.time ?? Double(wallNanos) / 1e9 }

    /// RFC 3339 UTC with milliseconds.
    static func rfc3339(_ seconds: Double) -> String {
        var whole = time_t(seconds.rounded(.down))
        var t = tm()
        gmtime_r(&whole, &t)
        let millis = Int(((seconds - seconds.rounded(.down)) * 1000).rounded()) % 1000
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, millis)
    }
}

/// A recorded track in the forms other programs read: GPX 1.1 and GeoJSON.
public enum TrackDocument {
    /// GPX 1.1: one track, a segment for each stretch with a fix (a stretch without fix ends a segment), each point with
    /// its time, elevation, speed (m/s) and course.
    public static func gpx(_ points: [TrackPoint], name: String) -> String {
        var out = """
        <?xml version="1.0" encoding="UTF-8"?>
        <gpx version="1.1" creator="Blackbox" xmlns="http://www.topografix.com/GPX/1/1" xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v2">
        <trk><name>\(escaped(name))</name>

        """
        var open = false
        for p in points {
            guard p.fix.hasPosition, let lat = p.fix.latitude, let lon = p.fix.longitude else {
                if open { out += "</trkseg>\n"; open = false }
                continue
            }
            if !open { out += "<trkseg>\n"; open = true }
            out += String(format: "<trkpt lat=\"%.7f\" lon=\"%.7f\">", lat, lon)
            if let alt = p.fix.altitude { out += String(format: "<ele>%.1f</ele>", alt) }
            out += "<time>\(TrackPoint.rfc3339(p.seconds))</time>"
            // GPX 1.1's point has no speed or course: Garmin's TrackPointExtension v2 (what gpsbabel and most readers know) has.
            if p.fix.speed != nil || p.fix.heading != nil {
                out += "<extensions><gpxtpx:TrackPointExtension>"
                if let speed = p.fix.speed { out += String(format: "<gpxtpx:speed>%.2f</gpxtpx:speed>", speed) }
                if let heading = p.fix.heading { out += String(format: "<gpxtpx:course>%.1f</gpxtpx:course>", heading) }
                out += "</gpxtpx:TrackPointExtension></extensions>"
            }
            out += "</trkpt>\n"
        }
        if open { out += "</trkseg>\n" }
        return out + "</trk>\n</gpx>\n"
    }

    /// GeoJSON: a Feature whose LineString holds the points with a fix ([longitude, latitude, altitude]); its
    /// properties give each point's time, speed (m/s) and heading, and the stretches without fix.
    public static func geoJSON(_ points: [TrackPoint], camera: String) -> [String: Any] {
        var coordinates: [[Double]] = [], times: [String] = [], epochs: [Double] = [], speeds: [Double?] = [], headings: [Double?] = []
        var noFix: [[String]] = []
        var gapStart: TrackPoint?
        var last: TrackPoint?
        for p in points {
            if p.fix.hasPosition, let lat = p.fix.latitude, let lon = p.fix.longitude {
                if let start = gapStart {
                    noFix.append([TrackPoint.rfc3339(Double(start.wallNanos) / 1e9), TrackPoint.rfc3339(Double(p.wallNanos) / 1e9)])
                    gapStart = nil
                }
                coordinates.append([lon, lat, p.fix.altitude ?? 0])
                times.append(TrackPoint.rfc3339(Double(p.wallNanos) / 1e9))
                epochs.append((Double(p.wallNanos) / 1e6).rounded() / 1e3)
                speeds.append(p.fix.speed)
                headings.append(p.fix.heading)
            } else if gapStart == nil {
                gapStart = p
            }
            last = p
        }
        if let start = gapStart, let last {
            noFix.append([TrackPoint.rfc3339(Double(start.wallNanos) / 1e9), TrackPoint.rfc3339(Double(last.wallNanos) / 1e9)])
        }
        let properties: [String: Any] = [
            "camera": camera, "times": times, "epochs": epochs, "speeds": speeds.map { $0 ?? NSNull() as Any },
            "headings": headings.map { $0 ?? NSNull() as Any }, "noFix": noFix,
        ]
        return ["type": "Feature", "geometry": ["type": "LineString", "coordinates": coordinates], "properties": properties]
    }

    private static func escaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
