/// Turns a bouncing contact into clean changes: a level counts once the line has held it for `periodNanos` after its
/// last edge (10 edges in 20 ms are one press). Fed with edges or with polled levels, on the capture clock; the edges'
/// own times decide, so a press read late (its release already queued behind it) still counts.
public struct Debouncer: Sendable, Equatable {
    /// How long a level must hold.
    public let periodNanos: UInt64
    /// The level that counts (nil before the first reading).
    public private(set) var stable: Bool?
    /// The level last seen and since when.
    private var raw: Bool?
    private var rawSince: UInt64 = 0

    /// A debouncer of `periodNanos`.
    public init(periodNanos: UInt64) {
        self.periodNanos = periodNanos
    }

    /// The line was seen at `level` at `nanos` (an edge, or a polled reading). Returns the level before it when that had
    /// held long enough to count and had not been counted yet.
    @discardableResult
    public mutating func observe(_ level: Bool, at nanos: UInt64) -> (level: Bool, since: UInt64)? {
        if stable == nil { stable = level }
        guard raw != level else { return nil }
        let at = max(nanos, rawSince)
        var counted: (level: Bool, since: UInt64)?
        if let raw, raw != stable, at &- rawSince >= periodNanos {
            stable = raw
            counted = (raw, rawSince)
        }
        raw = level
        rawSince = at
        return counted
    }

    /// When the level seen last will have held long enough to count (nil: nothing pending).
    public var deadline: UInt64? {
        guard let raw, raw != stable else { return nil }
        return rawSince &+ periodNanos
    }

    /// The new level and when its last edge was, when one has held long enough by `now`.
    public mutating func settle(now: UInt64) -> (level: Bool, since: UInt64)? {
        guard let deadline, now >= deadline, let raw else { return nil }
        stable = raw
        return (raw, rawSince)
    }
}
