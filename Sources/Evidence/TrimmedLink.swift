/// A signed link of a fragment that an export cut at a frame: the original link, which frames were
/// kept, and the table rows and hashes of the frames left out, so the kept frames still prove
/// themselves against the signature. Only a prefix (first fragment) or a suffix (last) may go.
public struct TrimmedLink: Sendable, Equatable {
    /// Format version.
    public static let version: UInt8 = 1

    /// The fragment's link as signed.
    public var link: ChainLink
    /// Index of the first kept sample in the signed fragment.
    public var firstKept: Int
    /// Samples in the signed fragment.
    public var originalCount: Int
    /// Table rows (duration, size, sync) of the samples left out, in order: those before the kept ones, then those after.
    public var removedRows: [[UInt8]]
    /// SHA-256 of each sample left out, in the same order.
    public var removedHashes: [[UInt8]]

    /// A trimmed link.
    public init(link: ChainLink, firstKept: Int, originalCount: Int, removedRows: [[UInt8]], removedHashes: [[UInt8]]) {
        self.link = link
        self.firstKept = firstKept
        self.originalCount = originalCount
        self.removedRows = removedRows
        self.removedHashes = removedHashes
    }

    /// Time from the signed fragment's start to its first kept sample (the durations of those cut before it), nanoseconds.
    public var keptStartOffsetNanos: Int64 {
        let ticks = removedRows[..<min(firstKept, removedRows.count)].reduce(UInt64(0)) { sum, row in
            sum + UInt64(row[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        }
        return Int64(ticks * 1_000_000_000 / UInt64(max(1, link.timescale)))
    }

    /// The stored bytes (the `uuid` box's body after its 16-byte type).
    public var encoded: [UInt8] {
        var out: [UInt8] = [Self.version]
        out += bigEndian(UInt32(firstKept)) + bigEndian(UInt32(originalCount)) + bigEndian(UInt32(removedRows.count))
        for (row, hash) in zip(removedRows, removedHashes) { out += row + hash }
        return out + link.encoded
    }

    /// Reads a stored trimmed link; nil when the bytes are not one.
    public init?(encoded b: [UInt8]) {
        guard b.count >= 13, b[0] == Self.version else { return nil }
        func u32(_ i: Int) -> Int { Int(b[i..<i + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }) }
        firstKept = u32(1)
        originalCount = u32(5)
        let removed = u32(9)
        guard removed <= originalCount, b.count >= 13 + removed * 41 else { return nil }
        var i = 13
        removedRows = []
        removedHashes = []
        for _ in 0..<removed {
            removedRows.append(Array(b[i..<i + 9]))
            removedHashes.append(Array(b[i + 9..<i + 41]))
            i += 41
        }
        guard let link = ChainLink(encoded: Array(b[i...])) else { return nil }
        self.link = link
    }

    /// The digest of the signed fragment, rebuilt from the kept samples' rows and hashes and those left out;
    /// nil when the counts do not add up.
    public func signedDigest(keptRows: [[UInt8]], keptHashes: [[UInt8]]) -> FragmentDigest? {
        let before = firstKept
        guard before <= removedRows.count, before + keptRows.count + (removedRows.count - before) == originalCount else { return nil }
        return FragmentDigest(rows: Array(removedRows[..<before]) + keptRows + Array(removedRows[before...]),
                              sampleHashes: Array(removedHashes[..<before]) + keptHashes + Array(removedHashes[before...]))
    }
}
