/// Where each enabled channel sits in one scan of an IIO buffer, from the kernel's `scan_elements` (`*_index` and
/// `*_type`, e.g. `le:s16/32>>0`): channels in index order, each aligned to its own storage size, the scan padded to
/// its largest (the layout of Linux's IIO ABI).
public struct ScanLayout: Sendable, Equatable {
    /// One channel's place and format.
    public struct Channel: Sendable, Equatable {
        public var name: String
        public var index: Int
        public var bigEndian: Bool
        public var signed: Bool
        public var realBits: Int
        public var storageBits: Int
        public var shift: Int
        /// Byte offset in the scan.
        public var offset: Int = 0
    }

    /// The channels in scan order.
    public let channels: [Channel]
    /// Bytes of one scan.
    public let size: Int

    /// A channel `name` at `index` of format `type` (`[be|le]:[s|u]BITS/STORAGE[Xrepeat][>>SHIFT]`), nil when unreadable.
    public static func channel(name: String, index: Int, type: String) -> Channel? {
        let parts = type.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, parts[0] == "le" || parts[0] == "be", let sign = parts[1].first, sign == "s" || sign == "u" else { return nil }
        let rest = parts[1].dropFirst()
        let shiftSplit = rest.split(separator: ">", omittingEmptySubsequences: true)
        let bits = shiftSplit[0].split(separator: "/")
        guard bits.count == 2, let real = Int(bits[0]), let storage = Int(bits[1].prefix { $0.isNumber }),
              [8, 16, 32, 64].contains(storage), (1...storage).contains(real) else { return nil }
        let shift = shiftSplit.count > 1 ? Int(shiftSplit[1]) ?? 0 : 0
        return Channel(name: name, index: index, bigEndian: parts[0] == "be", signed: sign == "s", realBits: real, storageBits: storage, shift: shift)
    }

    /// The layout of `channels` (any order).
    public init(_ channels: [Channel]) {
        var placed: [Channel] = []
        var at = 0, largest = 1
        for var c in channels.sorted(by: { $0.index < $1.index }) {
            let bytes = c.storageBits / 8
            at = (at + bytes - 1) / bytes * bytes
            c.offset = at
            at += bytes
            largest = max(largest, bytes)
            placed.append(c)
        }
        self.channels = placed
        size = (at + largest - 1) / largest * largest
    }

    /// The value of `channel` in the scan starting at `scan[start]`: shifted, masked to its bits, sign-extended.
    public func value(_ channel: Channel, in scan: [UInt8], at start: Int) -> Int64 {
        let bytes = channel.storageBits / 8
        var raw: UInt64 = 0
        for i in 0..<bytes {
            let byte = UInt64(scan[start + channel.offset + i])
            raw |= channel.bigEndian ? byte << UInt64(8 * (bytes - 1 - i)) : byte << UInt64(8 * i)
        }
        raw >>= UInt64(channel.shift)
        guard channel.realBits < 64 else { return Int64(bitPattern: raw) }
        raw &= (UInt64(1) << UInt64(channel.realBits)) - 1
        if channel.signed, raw & (UInt64(1) << UInt64(channel.realBits - 1)) != 0 {
            return Int64(bitPattern: raw | ~((UInt64(1) << UInt64(channel.realBits)) - 1))
        }
        return Int64(bitPattern: raw)
    }
}
