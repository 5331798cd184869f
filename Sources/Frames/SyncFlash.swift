import Synchronization

/// The moment the test pattern last flashed white, shared with the test click so that the click sounds on the very
/// frame that flashes: a recording's picture and sound can then be checked against each other (the sync test).
public final class SyncFlash: Sendable {
    /// Capture time of the last white frame, monotonic nanoseconds (0: none yet).
    public let last = Atomic<UInt64>(0)

    /// A flash that has not happened yet.
    public init() {}
}
