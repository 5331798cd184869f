import Encoding
import Evidence
#if canImport(Glibc)
import Glibc
#endif

/// What a scan of a fragmented MJPEG MP4 found: the init section and every complete fragment.
public struct MP4Scan: Sendable {
    /// One moof + mdat pair that is wholly on disk.
    public struct Fragment: Sendable {
        /// Offset of the moof box.
        public var offset: Int
        /// Offset just past the mdat box.
        public var end: Int
        /// mfhd sequence number.
        public var sequence: UInt32
        /// tfdt decode time of the first sample, in track ticks.
        public var baseTime: UInt64
        /// Per-sample durations, in track ticks.
        public var durations: [UInt32]
        /// Per-sample sizes in bytes.
        public var sizes: [UInt32]
        /// Absolute offset of the first sample's bytes.
        public var dataOffset: Int
        /// Per-sample sync flags (every sample is a sync sample when the trun carries none).
        public var keyframes: [Bool] = []
        /// The chain link signed for this fragment (the `uuid` box right after its mdat), if any.
        public var link: ChainLink?
        /// Offset just past the link's box (or `end` when unsigned).
        public var linkEnd: Int?
        /// When an export cut this fragment at a frame: what was left out (`link` is then the signed original's).
        public var trim: TrimmedLink?
        /// The fragment's samples of the other tracks (sound, metadata), in file order, each run's bytes after the one before.
        public var runs: [Run] = []

        /// The fragment's sound samples, if the file has sound and the fragment any.
        public var sound: Run? { runs.first { $0.trackID == FragmentedMP4.soundTrackID } }
        /// The fragment's metadata samples (GPS reports), if any.
        public var metadata: Run? { runs.first { $0.trackID == FragmentedMP4.metadataTrackID } }

        /// Every sample the fragment's signature covers, in signed order: the picture's, then each other track's in file
        /// order (their samples all sync samples); their bytes lie back to back from `dataOffset`.
        public var signedSamples: (durations: [UInt32], sizes: [Int], keyframes: [Bool]) {
            let keys = keyframes.count == sizes.count ? keyframes : sizes.map { _ in true }
            return (durations + runs.flatMap(\.durations), (sizes + runs.flatMap(\.sizes)).map(Int.init),
                    keys + runs.flatMap { $0.sizes.map { _ in true } })
        }
    }

    /// The samples of one track (not the picture's) in one fragment.
    public struct Run: Sendable {
        /// Track id in the file.
        public var trackID: UInt32
        /// Decode time of the first, in the track's ticks.
        public var baseTime: UInt64
        /// Per-sample durations, in the track's ticks.
        public var durations: [UInt32]
        /// Per-sample sizes in bytes.
        public var sizes: [UInt32]
        /// Absolute offset of the first sample's bytes.
        public var dataOffset: Int
    }

    /// The timed metadata track of a file (`camm`): its track id and ticks per second.
    public struct MetadataTrack: Sendable {
        /// Track id in the file.
        public var trackID: UInt32
        /// Ticks per second.
        public var timescale: UInt64
    }

    /// The timed metadata track, when the file has one.
    public var metadata: MetadataTrack?

    /// Ticks per second of each track other than the picture's, by track id.
    public var otherTimescales: [UInt32: UInt64] {
        var out: [UInt32: UInt64] = [:]
        if let sound { out[sound.trackID] = sound.timescale }
        if let metadata { out[metadata.trackID] = metadata.timescale }
        return out
    }

    /// The sound track of a file: its track id and ticks per second (the sample rate).
    public struct SoundTrack: Sendable {
        /// Track id in the file.
        public var trackID: UInt32
        /// Ticks per second (samples per second).
        public var timescale: UInt64
        /// The `esds` AudioSpecificConfig (what a player needs to decode it).
        public var decoderConfig: [UInt8]
    }

    /// The sound track, when the file has one.
    public var sound: SoundTrack?

    /// The track's codec, from its sample entry.
    public var codec: VideoCodec = .mjpeg
    /// The sample description (stsd) bytes: files whose fragments may follow each other share it.
    public var sampleDescription: [UInt8] = []

    /// Size of the file when scanned.
    public var fileSize = 0
    /// Offset just past the moov box (nil when the init section is incomplete).
    public var initEnd: Int?
    /// The movie header's creation time, Unix seconds (what the file claims as its start).
    public var creationTime: Int?
    /// Offset of the mvhd creation time (64-bit, followed by the modification time), if version 1.
    public var creationFieldOffset: Int?
    /// The duration the init section states (mehd, patched when a file is finished; 0 while written), seconds.
    public var statedDuration: Double = 0
    /// The `©cmt` text of the movie (an event clip's reason).
    public var comment: String?
    /// Offset of the mehd fragment-duration field, if present.
    public var durationFieldOffset: Int?
    /// Track timescale (ticks per second).
    public var timescale: UInt64 = FragmentedMP4.timescale
    /// Complete fragments in file order.
    public var fragments: [Fragment] = []
    /// Offset just past the last complete box sequence: everything after it is a cut-off tail.
    public var validEnd = 0
    /// Structural problems found (empty for a sound file).
    public var problems: [String] = []

    /// Number of samples (frames) in complete fragments.
    public var frameCount: Int { fragments.reduce(0) { $0 + $1.sizes.count } }

    /// Decode time just past the last sample, in ticks.
    public var endTime: UInt64 {
        guard let last = fragments.last else { return 0 }
        // Wrapping: a damaged file's times are nonsense, never a trap.
        return last.baseTime &+ last.durations.reduce(0) { $0 &+ UInt64($1) }
    }

    /// Duration of the complete fragments in seconds.
    public var duration: Double { Double(endTime) / Double(timescale) }

    /// Wall-clock start of `fragment`, Unix nanoseconds: its signed start when that agrees with what the
    /// file states (its start plus the track time, to the second the start is given in), else the stated time.
    public func wallStart(of fragment: Fragment) -> Int64 {
        let base = fragments.first?.baseTime ?? 0
        // Wrapping arithmetic: the times of a damaged file may be anything, and must not trap.
        let ticks = fragment.baseTime &- base, scale = max(1, timescale)
        let offset = (ticks / scale) &* 1_000_000_000 &+ (ticks % scale) &* 1_000_000_000 / scale
        let stated = Int64(creationTime ?? 0) &* 1_000_000_000 &+ Int64(truncatingIfNeeded: offset)
        // A fragment an export cut starts later than it was signed to, by the frames cut before it.
        guard let link = fragment.link else { return stated }
        let signed = link.wallStartNanos &+ (fragment.trim?.keptStartOffsetNanos ?? 0)
        let (apart, overflow) = signed.subtractingReportingOverflow(stated)
        return !overflow && apart.magnitude < 2_000_000_000 ? signed : stated
    }
}

/// Reads fragmented MP4 structure with positioned reads (no whole-file loads: segments can be large).
public enum MP4Reader {
    /// Scans the file at `path`; with `maxFragments`, stops after that many (with their links): a
    /// finished file's start, stated duration and codec come from its head alone.
    public static func scan(path: String, maxFragments: Int = .max) throws(RecordingError) -> MP4Scan {
        let fd = RecordingReadOpen.open(path)
        guard fd >= 0 else { throw RecordingError(errno: errno, "open", path) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw RecordingError(errno: errno, "stat", path) }
        return scan(fd: fd, size: Int(st.st_size), maxFragments: maxFragments)
    }

    static func scan(fd: Int32, size: Int, maxFragments: Int = .max) -> MP4Scan {
        var scan = MP4Scan()
        scan.fileSize = size
        var offset = 0
        var pendingMoof: (offset: Int, fragment: MP4Scan.Fragment)?
        while offset + 8 <= size {
            guard let header = read(fd, at: offset, count: min(16, size - offset)),
                  let (boxSize, type, headerSize) = boxHeader(header, available: size - offset) else {
                break
            }
            guard boxSize >= headerSize, boxSize <= size - offset else { break }  // cut off: stop at the last whole box
            let end = offset + boxSize
            switch type {
            case "ftyp":
                break
            case "moov":
                guard let body = read(fd, at: offset, count: boxSize) else { return scan }
                parseMoov(body, base: offset, into: &scan)
                scan.initEnd = end
                scan.validEnd = end
            case "moof":
                if scan.fragments.count >= maxFragments { return scan }
                guard scan.initEnd != nil, let body = read(fd, at: offset, count: boxSize) else { return scan }
                guard let fragment = parseMoof(body, offset: offset) else {
                    scan.problems.append("unreadable moof at \(offset)")
                    return scan
                }
                pendingMoof = (offset, fragment)
            case "mdat":
                if let (moofOffset, found) = pendingMoof {
                    var fragment = found
                    // Each run's bytes follow the run before it's.
                    var payload = fragment.sizes.reduce(0) { $0 + Int($1) }
                    var inPlace = true
                    for run in fragment.runs {
                        inPlace = inPlace && run.dataOffset == fragment.dataOffset + payload
                        payload += run.sizes.reduce(0) { $0 + Int($1) }
                    }
                    if fragment.dataOffset != offset + headerSize || payload != boxSize - headerSize || !inPlace {
                        scan.problems.append("fragment \(fragment.sequence) at \(moofOffset): sample sizes do not match its mdat")
                    } else {
                        fragment.end = end
                        scan.fragments.append(fragment)
                        scan.validEnd = end
                    }
                    pendingMoof = nil
                }
            case "uuid":
                // A chain link belongs to the fragment it directly follows.
                if let last = scan.fragments.last, last.end == offset, last.link == nil, boxSize > 24 + headerSize,
                   let body = read(fd, at: offset + headerSize, count: boxSize - headerSize) {
                    let type = Array(body.prefix(16)), payload = Array(body.dropFirst(16))
                    let i = scan.fragments.count - 1
                    if type == FragmentedMP4.signatureUUID, let link = ChainLink(encoded: payload) {
                        scan.fragments[i].link = link
                    } else if type == FragmentedMP4.trimmedSignatureUUID, let trimmed = TrimmedLink(encoded: payload) {
                        scan.fragments[i].link = trimmed.link
                        scan.fragments[i].trim = trimmed
                    } else if type == FragmentedMP4.signatureUUID || type == FragmentedMP4.trimmedSignatureUUID {
                        scan.problems.append("unreadable signature box at \(offset)")
                    }
                    if scan.fragments[i].link != nil {
                        scan.fragments[i].linkEnd = end
                        scan.validEnd = end
                    }
                }
            case "free", "skip":
                // Padding (the recorder pads each fragment to whole blocks) right after what is valid is valid too.
                if scan.validEnd == offset { scan.validEnd = end }
            default:
                break
            }
            offset = end
        }
        if scan.initEnd == nil { scan.problems.append("no complete init section (ftyp + moov)") }
        return scan
    }

    /// Reads `count` bytes at `offset`, or nil when the file is shorter.
    static func read(_ fd: Int32, at offset: Int, count: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset + done)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            done += n
        }
        return done == count ? out : nil
    }

    /// (box size, type, header size) of the box starting at `bytes`.
    static func boxHeader(_ bytes: [UInt8], available: Int) -> (Int, String, Int)? {
        guard bytes.count >= 8 else { return nil }
        var size = Int(be32(bytes, 0))
        let type = String(decoding: bytes[4..<8], as: UTF8.self)
        var headerSize = 8
        if size == 1 {
            guard bytes.count >= 16 else { return nil }
            size = Int(clamping: be64(bytes, 8))
            headerSize = 16
        } else if size == 0 {
            size = available
        }
        return (size, type, headerSize)
    }

    /// The big-endian u32 at `i`; 0 past the end of `b` (a damaged box may claim fields it does not hold).
    static func be32(_ b: [UInt8], _ i: Int) -> UInt32 {
        guard i >= 0, i <= b.count - 4 else { return 0 }
        return UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
    }

    /// The byte at `i`; 0 past the end of `b`.
    static func byte(_ b: [UInt8], _ i: Int) -> UInt8 {
        i >= 0 && i < b.count ? b[i] : 0
    }

    static func be64(_ b: [UInt8], _ i: Int) -> UInt64 {
        UInt64(be32(b, i)) << 32 | UInt64(be32(b, i + 4))
    }

    /// Children of the box whose body spans `range` of `b`: (type, body range, box start).
    static func children(_ b: [UInt8], _ range: Range<Int>) -> [(String, Range<Int>, Int)] {
        var out: [(String, Range<Int>, Int)] = []
        var i = range.lowerBound
        while i + 8 <= range.upperBound {
            let size = Int(be32(b, i))
            guard size >= 8, size <= range.upperBound - i else { break }
            out.append((String(decoding: b[i + 4..<i + 8], as: UTF8.self), i + 8..<i + size, i))
            i += size
        }
        return out
    }

    private static func parseMoov(_ b: [UInt8], base: Int, into scan: inout MP4Scan) {
        for (type, body, _) in children(b, 8..<b.count) {
            if type == "mvhd", body.count >= 12 {
                let version1 = b[body.lowerBound] == 1
                let created = version1 ? be64(b, body.lowerBound + 4) : UInt64(be32(b, body.lowerBound + 4))
                scan.creationTime = Int(clamping: created) &- Int(FragmentedMP4.epochOffset)
                if version1 { scan.creationFieldOffset = base + body.lowerBound + 4 }
            } else if type == "mvex" {
                for (t, r, _) in children(b, body) where t == "mehd" && r.count >= 12 {
                    scan.durationFieldOffset = base + r.lowerBound + 4
                    scan.statedDuration = Double(b[r.lowerBound] == 1 ? be64(b, r.lowerBound + 4) : UInt64(be32(b, r.lowerBound + 4)))
                        / Double(FragmentedMP4.movieTimescale)
                }
            } else if type == "udta" {
                // Text atoms: size, type, then length u16, language u16 and the text.
                // The type's first byte is 0xA9, not UTF-8: compare bytes.
                for (_, r, at) in children(b, body) where Array(b[at + 4..<at + 8]) == [0xA9] + Array("cmt".utf8) && r.count >= 4 {
                    let length = Int(b[r.lowerBound]) << 8 | Int(b[r.lowerBound + 1])
                    if r.lowerBound + 4 + length <= r.upperBound {
                        scan.comment = String(decoding: b[(r.lowerBound + 4)..<(r.lowerBound + 4 + length)], as: UTF8.self)
                    }
                }
            } else if type == "trak" {
                parseTrak(b, body, into: &scan)
            }
        }
    }

    /// One track: the picture's (`vide`) gives the timescale and codec, a sound track (`soun`) its id and rate, a
    /// metadata track (`meta` with a `camm` entry) its id.
    private static func parseTrak(_ b: [UInt8], _ body: Range<Int>, into scan: inout MP4Scan) {
        var trackID: UInt32 = 1
        for (t, r, _) in children(b, body) where t == "tkhd" && r.count >= 24 {
            trackID = be32(b, r.lowerBound + 4 + (byte(b, r.lowerBound) == 1 ? 16 : 8))
        }
        for (t, r, _) in children(b, body) where t == "mdia" {
            var timescale: UInt64?
            var handler = ""
            for (t2, r2, _) in children(b, r) {
                if t2 == "mdhd" {
                    let at = r2.lowerBound + 4 + (byte(b, r2.lowerBound) == 1 ? 16 : 8)
                    if at + 4 <= r2.upperBound { timescale = UInt64(be32(b, at)) }
                } else if t2 == "hdlr", r2.count >= 12 {
                    handler = String(decoding: b[(r2.lowerBound + 8)..<(r2.lowerBound + 12)], as: UTF8.self)
                }
            }
            // minf > stbl > stsd: the first sample entry's type names the codec.
            for (t2, r2, _) in children(b, r) where t2 == "minf" {
                for (t3, r3, _) in children(b, r2) where t3 == "stbl" {
                    for (t4, r4, _) in children(b, r3) where t4 == "stsd" && r4.count >= 16 {
                        let entry = String(decoding: b[(r4.lowerBound + 12)..<(r4.lowerBound + 16)], as: UTF8.self)
                        if handler == "meta" && entry == "camm" {
                            scan.metadata = MP4Scan.MetadataTrack(trackID: trackID, timescale: timescale ?? FragmentedMP4.timescale)
                        } else if handler == "soun" {
                            scan.sound = MP4Scan.SoundTrack(trackID: trackID, timescale: timescale ?? 48_000,
                                                            decoderConfig: decoderSpecificInfo(b, r4) ?? [])
                        } else if handler == "vide" {
                            if let timescale { scan.timescale = timescale }
                            scan.codec = entry == "avc1" ? .h264 : .mjpeg
                            scan.sampleDescription = Array(b[r4])
                        }
                    }
                }
            }
        }
    }

    /// The DecoderSpecificInfo (tag 5) bytes of the first `esds` in a sample description.
    private static func decoderSpecificInfo(_ b: [UInt8], _ stsd: Range<Int>) -> [UInt8]? {
        guard let esds = (stsd.lowerBound..<max(stsd.lowerBound, stsd.upperBound - 4)).first(where: { Array(b[$0..<$0 + 4]) == Array("esds".utf8) })
        else { return nil }
        var i = esds + 8
        while i + 2 < stsd.upperBound {
            let tag = b[i]
            var length = 0, j = i + 1
            // Descriptor lengths: 7 bits a byte, high bit set while more follow.
            while j < stsd.upperBound { length = length << 7 | Int(b[j] & 0x7F); j += 1; if b[j - 1] & 0x80 == 0 { break } }
            switch tag {
            case 0x03: i = j + 3  // ES_Descriptor: ES_ID and flags, then its children
            case 0x04: i = j + 13  // DecoderConfigDescriptor: fixed fields, then its children
            case 0x05: return length >= 0 && length <= stsd.upperBound - j ? Array(b[j..<j + length]) : nil
            default:
                guard length >= 0, length <= stsd.upperBound - j else { return nil }
                i = j + length
            }
        }
        return nil
    }

    private static func parseMoof(_ b: [UInt8], offset: Int) -> MP4Scan.Fragment? {
        var fragment = MP4Scan.Fragment(offset: offset, end: 0, sequence: 0, baseTime: 0, durations: [], sizes: [], dataOffset: 0)
        var sawTrun = false
        for (type, body, _) in children(b, 8..<b.count) {
            if type == "mfhd", body.count >= 8 {
                fragment.sequence = be32(b, body.lowerBound + 4)
            } else if type == "traf" {
                var track: UInt32 = 1, base: UInt64 = 0, dataOffset = 0
                var durations: [UInt32] = [], sizes: [UInt32] = [], keyframes: [Bool] = []
                var hasRun = false
                for (t, r, _) in children(b, body) {
                    if t == "tfhd", r.count >= 8 {
                        track = be32(b, r.lowerBound + 4)
                    } else if t == "tfdt" {
                        base = byte(b, r.lowerBound) == 1 ? be64(b, r.lowerBound + 4) : UInt64(be32(b, r.lowerBound + 4))
                    } else if t == "trun" {
                        let flags = be32(b, r.lowerBound) & 0xFF_FFFF
                        let count = Int(be32(b, r.lowerBound + 4))
                        var i = r.lowerBound + 8
                        if flags & 0x1 != 0 { dataOffset = Int(Int32(bitPattern: be32(b, i))); i += 4 }
                        if flags & 0x4 != 0 { i += 4 }
                        let perSample = [0x100, 0x200, 0x400, 0x800].filter { flags & UInt32($0) != 0 }.count * 4
                        guard r.count >= 8, count >= 0, i + count * perSample <= r.upperBound else { return nil }
                        for _ in 0..<count {
                            var duration: UInt32 = 0, size: UInt32 = 0
                            if flags & 0x100 != 0 { duration = be32(b, i); i += 4 }
                            if flags & 0x200 != 0 { size = be32(b, i); i += 4 }
                            var sync = true
                            if flags & 0x400 != 0 { sync = (be32(b, i) >> 16) & 1 == 0; i += 4 }
                            if flags & 0x800 != 0 { i += 4 }
                            keyframes.append(sync)
                            durations.append(duration)
                            sizes.append(size)
                        }
                        hasRun = true
                    }
                }
                guard hasRun else { continue }
                if track == 1 {
                    (fragment.baseTime, fragment.durations, fragment.sizes, fragment.keyframes) = (base, durations, sizes, keyframes)
                    fragment.dataOffset = offset + dataOffset
                    sawTrun = true
                } else {
                    fragment.runs.append(MP4Scan.Run(trackID: track, baseTime: base, durations: durations, sizes: sizes, dataOffset: offset + dataOffset))
                }
            }
        }
        return sawTrun ? fragment : nil
    }
}
