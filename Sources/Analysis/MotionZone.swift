import Rules

/// A part of the picture that motion is looked for in (`include`) or ignored in (`exclude`): a polygon in
/// frame-relative coordinates (0…1, x to the right, y down), so it holds at any size.
public struct MotionZone: Sendable, Equatable, Codable {
    /// Whether the zone adds to or takes from the analysed area.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// Only included parts are analysed (when there is at least one include zone).
        case include
        /// Never analysed (a road with traffic, a tree in the wind, a neighbour's window).
        case exclude
    }

    /// A corner, frame-relative.
    public struct Point: Sendable, Equatable, Codable {
        /// 0 (left) to 1 (right).
        public var x: Double
        /// 0 (top) to 1 (bottom).
        public var y: Double

        /// A point at (`x`, `y`).
        public init(x: Double, y: Double) {
            self.x = x
            self.y = y
        }
    }

    /// Include or exclude.
    public var kind: Kind
    /// Corners in order (a rectangle has four).
    public var points: [Point]

    /// A polygon zone.
    public init(kind: Kind, points: [Point]) {
        self.kind = kind
        self.points = points
    }

    /// A rectangle zone from its left, top, width and height.
    public init(kind: Kind, x: Double, y: Double, width: Double, height: Double) {
        self.init(kind: kind, points: [Point(x: x, y: y), Point(x: x + width, y: y), Point(x: x + width, y: y + height), Point(x: x, y: y + height)])
    }

    /// Throws a message naming what is wrong with the zone and what is allowed.
    public func validate() throws(MotionError) {
        guard (3...64).contains(points.count) else {
            throw MotionError("a motion zone has \(points.count) corners; allowed: 3 to 64 (a rectangle: rect = [x, y, width, height])")
        }
        if let bad = points.first(where: { !(0...1).contains($0.x) || !(0...1).contains($0.y) }) {
            throw MotionError("motion zone corner (\(bad.x), \(bad.y)) is outside the picture; allowed: x and y from 0 to 1 (fractions of the width and height)")
        }
    }

    /// Whether the point (`x`, `y`) lies inside the polygon (even-odd rule).
    public func contains(x: Double, y: Double) -> Bool {
        var inside = false
        var j = points.count - 1
        for i in points.indices {
            let a = points[i], b = points[j]
            if (a.y > y) != (b.y > y), x < (b.x - a.x) * (y - a.y) / (b.y - a.y) + a.x { inside.toggle() }
            j = i
        }
        return inside
    }

    /// Which pixels of a `width`×`height` image are analysed under `zones`: with include zones only those
    /// inside one of them, never those inside an exclude zone. Nil when every pixel is (no zones).
    public static func mask(_ zones: [MotionZone], width: Int, height: Int) -> [Bool]? {
        guard !zones.isEmpty else { return nil }
        let includes = zones.filter { $0.kind == .include }, excludes = zones.filter { $0.kind == .exclude }
        var mask = [Bool](repeating: false, count: width * height)
        for y in 0..<height {
            let fy = (Double(y) + 0.5) / Double(height)
            for x in 0..<width {
                let fx = (Double(x) + 0.5) / Double(width)
                mask[y * width + x] = (includes.isEmpty || includes.contains { $0.contains(x: fx, y: fy) })
                    && !excludes.contains { $0.contains(x: fx, y: fy) }
            }
        }
        return mask
    }
}

extension MotionZone.Kind: NamedChoice {}
