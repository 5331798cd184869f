/// One sample of a recording's timed metadata track (a CAMM record: a GPS report or an accelerometer reading), at the capture-clock time it was
/// taken, so that it sits beside the pictures of that moment.
public struct MetadataSample: Sendable, Equatable {
    /// CLOCK_MONOTONIC when it was taken.
    public var monotonicNanos: UInt64
    /// The record's bytes.
    public var bytes: [UInt8]

    /// A sample of `bytes` taken at `monotonicNanos`.
    public init(monotonicNanos: UInt64, bytes: [UInt8]) {
        self.monotonicNanos = monotonicNanos
        self.bytes = bytes
    }
}
