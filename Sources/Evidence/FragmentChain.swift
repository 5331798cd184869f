/// A hash chain being extended: one per camera for its segments (it runs across files and restarts)
/// and one per event clip. Used by one writer thread.
public final class FragmentChain {
    /// Which chain.
    public let id: String
    private let key: DeviceKey
    private var nextIndex: UInt64
    private var previous: [UInt8]
    private let clock: ClockSync

    /// A chain `id` that continues after `last` (or starts at index 0 when there is none).
    public init(id: String, key: DeviceKey, after last: ChainLink? = nil, clock: ClockSync = ClockSync()) {
        self.id = id
        self.key = key
        self.clock = clock
        if let last, last.chainID == id {
            nextIndex = last.index + 1
            previous = last.chain
        } else {
            nextIndex = 0
            previous = [UInt8](repeating: 0, count: 32)
        }
    }

    /// Signs the next fragment and moves the chain on.
    public func link(_ digest: FragmentDigest, wallStartNanos: Int64, timescale: UInt32) -> ChainLink {
        let link = ChainLink(index: nextIndex, wallStartNanos: wallStartNanos, clockSynced: clock.isSynchronised(), clockCheckedByGPS: ClockSync.isCheckedByGPS(),
                             timescale: timescale, digest: digest, previous: previous, chainID: id, key: key)
        nextIndex += 1
        previous = link.chain
        return link
    }
}
