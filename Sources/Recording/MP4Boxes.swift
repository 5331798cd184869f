import Encoding
import Evidence
import Frames

/// Builds ISO BMFF boxes into a byte array (big-endian, sizes patched when a box closes).
struct BoxWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { bytes.append(UInt8(v >> 8)); bytes.append(UInt8(v & 0xFF)) }
    mutating func u32(_ v: UInt32) { for s in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8((v >> UInt32(s)) & 0xFF)) } }
    mutating func u64(_ v: UInt64) { for s in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8((v >> UInt64(s)) & 0xFF)) } }
    mutating func zeros(_ n: Int) { bytes.append(contentsOf: repeatElement(0, count: n)) }
    mutating func fourcc(_ s: String) { precondition(s.utf8.count == 4); bytes.append(contentsOf: s.utf8) }

    mutating func box(_ type: String, _ body: (inout BoxWriter) -> Void) {
        let start = bytes.count
        u32(0)
        fourcc(type)
        body(&self)
        patch32(at: start, UInt32(bytes.count - start))
    }

    mutating func fullBox(_ type: String, version: UInt8, flags: UInt32, _ body: (inout BoxWriter) -> Void) {
        box(type) { w in
            w.u32(UInt32(version) << 24 | (flags & 0xFF_FFFF))
            body(&w)
        }
    }

    mutating func patch32(at offset: Int, _ v: UInt32) {
        for i in 0..<4 { bytes[offset + i] = UInt8((v >> UInt32(24 - 8 * i)) & 0xFF) }
    }

    mutating func matrix() {
        for v: UInt32 in [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] { u32(v) }
    }
}

/// The codec of a track, with what its sample entry needs: the track is the same box tree for
/// every codec, and only the sample entry and the sync flags of the samples differ.
public enum TrackCodec: Sendable, Equatable {
    /// Motion JPEG: sample entry `mp4v` with object type 0x6C; every sample is a sync sample.
    case mjpeg
    /// H.264: sample entry `avc1` with the stream's parameter sets in `avcC`.
    case h264(H264ParameterSets)
}

/// The layout of a fragmented MP4: a picture track (Motion JPEG or H.264, track 1), an AAC track when the camera has
/// sound (track 2), and a timed metadata track (Google's Camera Motion Metadata, `camm`, track 3) when the daemon has
/// sensors (GPS). Every track's samples of a fragment are in the same moof + mdat, one run per track.
public enum FragmentedMP4 {
    /// Ticks per second of the video track (the usual 90 kHz video clock).
    public static let timescale: UInt64 = 90_000
    /// Ticks per second of the movie header (milliseconds).
    static let movieTimescale: UInt64 = 1000
    // Seconds from 1904-01-01 (the MP4 epoch) to 1970-01-01.
    static let epochOffset: UInt64 = 2_082_844_800

    /// The init section (ftyp + moov) and the byte offset of the 64-bit `mehd` fragment duration,
    /// which is written as 0 and patched when the file is finished.
    static func initSection(codec: TrackCodec = .mjpeg, width: Int, height: Int, audio: AudioFormat? = nil, metadata: Bool = false, startUTC: Int,
                            localTime: String, comment: String?) -> (bytes: [UInt8], durationOffset: Int) {
        let tracks: [UInt32] = [1] + (audio == nil ? [] : [soundTrackID]) + (metadata ? [metadataTrackID] : [])
        var w = BoxWriter()
        let created = UInt64(max(0, startUTC)) + epochOffset
        w.box("ftyp") { w in
            w.fourcc("iso5"); w.u32(1)
            for brand in ["iso5", "iso6", "mp41", "isom"] { w.fourcc(brand) }
        }
        var durationOffset = 0
        w.box("moov") { w in
            w.fullBox("mvhd", version: 1, flags: 0) { w in
                w.u64(created); w.u64(created); w.u32(UInt32(movieTimescale)); w.u64(0)
                w.u32(0x0001_0000); w.u16(0x0100); w.zeros(10); w.matrix(); w.zeros(24); w.u32(tracks.max()! + 1)
            }
            w.box("trak") { w in
                w.fullBox("tkhd", version: 1, flags: 3) { w in
                    w.u64(created); w.u64(created); w.u32(1); w.u32(0); w.u64(0)
                    w.zeros(8); w.u16(0); w.u16(0); w.u16(0); w.u16(0); w.matrix()
                    w.u32(UInt32(width) << 16); w.u32(UInt32(height) << 16)
                }
                w.box("mdia") { w in
                    mediaHeader(&w, created: created, timescale: timescale, handler: "vide", name: "VideoHandler")
                    w.box("minf") { w in
                        w.fullBox("vmhd", version: 0, flags: 1) { w in w.zeros(8) }
                        dataReference(&w)
                        w.box("stbl") { w in
                            w.fullBox("stsd", version: 0, flags: 0) { w in
                                w.u32(1)
                                switch codec {
                                case .mjpeg: sampleEntry(&w, width: width, height: height)
                                case .h264(let sets): avcSampleEntry(&w, width: width, height: height, sets: sets)
                                }
                            }
                            emptySampleTables(&w)
                        }
                    }
                }
            }
            if let audio { soundTrack(&w, audio, created: created) }
            if metadata { metadataTrack(&w, created: created) }
            w.box("mvex") { w in
                w.fullBox("mehd", version: 1, flags: 0) { w in
                    durationOffset = w.bytes.count
                    w.u64(0)
                }
                for track in tracks {
                    w.fullBox("trex", version: 0, flags: 0) { w in
                        w.u32(track); w.u32(1); w.u32(0); w.u32(0); w.u32(0)
                    }
                }
            }
            w.box("udta") { w in
                textAtom(&w, "\u{A9}day", localTime)
                if let comment { textAtom(&w, "\u{A9}cmt", comment) }
            }
        }
        return (w.bytes, durationOffset)
    }

    /// `mdhd` (language "und") and `hdlr` of a track.
    private static func mediaHeader(_ w: inout BoxWriter, created: UInt64, timescale: UInt64, handler: String, name: String) {
        w.fullBox("mdhd", version: 1, flags: 0) { w in
            w.u64(created); w.u64(created); w.u32(UInt32(timescale)); w.u64(0)
            w.u16(0x55C4); w.u16(0)
        }
        w.fullBox("hdlr", version: 0, flags: 0) { w in
            w.u32(0); w.fourcc(handler); w.zeros(12)
            w.bytes.append(contentsOf: name.utf8); w.u8(0)
        }
    }

    /// `dinf` saying the samples are in this file.
    private static func dataReference(_ w: inout BoxWriter) {
        w.box("dinf") { w in
            w.fullBox("dref", version: 0, flags: 0) { w in
                w.u32(1)
                w.fullBox("url ", version: 0, flags: 1) { _ in }
            }
        }
    }

    /// The sample tables of a fragmented file's track: empty (the samples are in the fragments).
    private static func emptySampleTables(_ w: inout BoxWriter) {
        w.fullBox("stts", version: 0, flags: 0) { w in w.u32(0) }
        w.fullBox("stsc", version: 0, flags: 0) { w in w.u32(0) }
        w.fullBox("stsz", version: 0, flags: 0) { w in w.u32(0); w.u32(0) }
        w.fullBox("stco", version: 0, flags: 0) { w in w.u32(0) }
    }

    /// Track id of the sound track (the picture is track 1).
    static let soundTrackID: UInt32 = 2

    /// The sound track: AAC-LC in an `mp4a` sample entry whose `esds` carries the AudioSpecificConfig, timed in samples.
    private static func soundTrack(_ w: inout BoxWriter, _ audio: AudioFormat, created: UInt64) {
        w.box("trak") { w in
            w.fullBox("tkhd", version: 1, flags: 3) { w in
                w.u64(created); w.u64(created); w.u32(soundTrackID); w.u32(0); w.u64(0)
                w.zeros(8); w.u16(0); w.u16(1); w.u16(0x0100); w.u16(0); w.matrix()  // layer, alternate group, volume 1.0
                w.u32(0); w.u32(0)
            }
            w.box("mdia") { w in
                mediaHeader(&w, created: created, timescale: UInt64(audio.sampleRate), handler: "soun", name: "SoundHandler")
                w.box("minf") { w in
                    w.fullBox("smhd", version: 0, flags: 0) { w in w.zeros(4) }
                    dataReference(&w)
                    w.box("stbl") { w in
                        w.fullBox("stsd", version: 0, flags: 0) { w in
                            w.u32(1)
                            w.box("mp4a") { w in
                                w.zeros(6); w.u16(1)                      // reserved, data_reference_index
                                w.zeros(8)                                // version, revision, vendor
                                w.u16(UInt16(audio.channels)); w.u16(16)  // channels, sample size
                                w.u32(0)                                  // pre_defined, reserved
                                w.u32(UInt32(audio.sampleRate) << 16)
                                let config = audio.decoderConfig
                                w.fullBox("esds", version: 0, flags: 0) { w in
                                    // ES_Descriptor { ES_ID 2, DecoderConfigDescriptor { AAC (0x40), audio stream,
                                    // DecoderSpecificInfo { AudioSpecificConfig } }, SLConfigDescriptor { MP4 } }
                                    w.u8(0x03); w.u8(UInt8(23 + config.count)); w.u16(UInt16(soundTrackID)); w.u8(0)
                                    w.u8(0x04); w.u8(UInt8(15 + config.count)); w.u8(0x40); w.u8(0x15)
                                    w.u8(0); w.u16(0)                     // buffer size
                                    w.u32(UInt32(audio.bitrate)); w.u32(UInt32(audio.bitrate))
                                    w.u8(0x05); w.u8(UInt8(config.count)); w.bytes.append(contentsOf: config)
                                    w.u8(0x06); w.u8(1); w.u8(0x02)
                                }
                            }
                        }
                        emptySampleTables(&w)
                    }
                }
            }
        }
    }

    /// Track id of the timed metadata track.
    static let metadataTrackID: UInt32 = 3

    /// The timed metadata track: Google's Camera Motion Metadata (`camm` sample entry, handler `meta`), one sample per
    /// report, timed like the picture (90 kHz). Each sample holds one CAMM record (GPS: type 6).
    private static func metadataTrack(_ w: inout BoxWriter, created: UInt64) {
        w.box("trak") { w in
            w.fullBox("tkhd", version: 1, flags: 3) { w in
                w.u64(created); w.u64(created); w.u32(metadataTrackID); w.u32(0); w.u64(0)
                w.zeros(8); w.u16(0); w.u16(0); w.u16(0); w.u16(0); w.matrix()
                w.u32(0); w.u32(0)
            }
            w.box("mdia") { w in
                mediaHeader(&w, created: created, timescale: timescale, handler: "meta", name: "CameraMetadataMotionHandler")
                w.box("minf") { w in
                    w.fullBox("nmhd", version: 0, flags: 0) { _ in }
                    dataReference(&w)
                    w.box("stbl") { w in
                        w.fullBox("stsd", version: 0, flags: 0) { w in
                            w.u32(1)
                            w.box("camm") { w in w.zeros(6); w.u16(1) }  // reserved, data_reference_index
                        }
                        emptySampleTables(&w)
                    }
                }
            }
        }
    }

    private static func textAtom(_ w: inout BoxWriter, _ type: String, _ text: String) {
        let utf8 = Array(text.utf8.prefix(1000))
        w.u32(UInt32(8 + 4 + utf8.count))
        w.bytes.append(contentsOf: type.unicodeScalars.map { UInt8($0.value) })
        w.u16(UInt16(utf8.count)); w.u16(0x55C4)
        w.bytes.append(contentsOf: utf8)
    }

    private static func sampleEntry(_ w: inout BoxWriter, width: Int, height: Int) {
        visualEntry(&w, "mp4v", width: width, height: height, name: "Motion JPEG") { w in
            w.fullBox("esds", version: 0, flags: 0) { w in
                // ES_Descriptor { ES_ID 1, DecoderConfigDescriptor { JPEG, visual }, SLConfigDescriptor { MP4 } }
                w.u8(0x03); w.u8(21); w.u16(1); w.u8(0)
                w.u8(0x04); w.u8(13); w.u8(0x6C); w.u8(0x11)
                w.u8(0); w.u8(0); w.u8(0); w.u32(0); w.u32(0)
                w.u8(0x06); w.u8(1); w.u8(0x02)
            }
        }
    }

    /// The visual sample entry fields every codec shares, then the codec's own boxes.
    private static func visualEntry(_ w: inout BoxWriter, _ type: String, width: Int, height: Int, name: String,
                                    _ body: (inout BoxWriter) -> Void) {
        w.box(type) { w in
            w.zeros(6); w.u16(1)                    // reserved, data_reference_index
            w.zeros(16)                             // pre_defined, reserved
            w.u16(UInt16(width)); w.u16(UInt16(height))
            w.u32(0x0048_0000); w.u32(0x0048_0000)  // 72 dpi
            w.u32(0); w.u16(1)                      // reserved, frame_count
            let name = Array(name.utf8.prefix(31))
            w.u8(UInt8(name.count)); w.bytes.append(contentsOf: name); w.zeros(31 - name.count)
            w.u16(0x0018); w.u16(0xFFFF)            // depth, pre_defined = -1
            body(&w)
        }
    }

    /// `avc1` with its decoder configuration (ISO/IEC 14496-15 `AVCDecoderConfigurationRecord`).
    private static func avcSampleEntry(_ w: inout BoxWriter, width: Int, height: Int, sets: H264ParameterSets) {
        visualEntry(&w, "avc1", width: width, height: height, name: "H.264") { w in
            w.box("avcC") { w in w.bytes.append(contentsOf: sets.decoderConfiguration) }
        }
    }

    /// Sample flags of a sync sample (depends on no other) and of any other sample.
    static let syncSampleFlags: UInt32 = 0x0200_0000
    static let nonSyncSampleFlags: UInt32 = 0x0101_0000

    /// The samples of one track in a fragment: the track, the decode time of the first (track ticks), durations and
    /// sizes, and each sample's sync flag when they differ (nil: every sample is a sync sample).
    struct TrackRun {
        var trackID: UInt32
        var baseTime: UInt64
        var durations: [UInt32]
        var sizes: [Int]
        var keyframes: [Bool]? = nil
    }

    /// moof + mdat header for `runs` (the picture's first; empty runs are left out). The sample bytes follow the
    /// returned header directly, each run's after the one before.
    static func fragmentHeader(sequence: UInt32, runs: [TrackRun]) -> [UInt8] {
        var w = BoxWriter()
        var offsetFields: [(at: Int, run: Int)] = []
        let kept = runs.enumerated().filter { $0.offset == 0 || !$0.element.sizes.isEmpty }
        w.box("moof") { w in
            w.fullBox("mfhd", version: 0, flags: 0) { w in w.u32(sequence) }
            for (index, run) in kept {
                w.box("traf") { w in
                    w.fullBox("tfhd", version: 0, flags: 0x02_0000) { w in w.u32(run.trackID) }  // default-base-is-moof
                    w.fullBox("tfdt", version: 1, flags: 0) { w in w.u64(run.baseTime) }
                    // data offset, duration, size (and flags when the samples differ)
                    w.fullBox("trun", version: 0, flags: run.keyframes == nil ? 0x000301 : 0x000701) { w in
                        w.u32(UInt32(run.sizes.count))
                        offsetFields.append((w.bytes.count, index))
                        w.u32(0)
                        for i in run.sizes.indices {
                            w.u32(run.durations[i]); w.u32(UInt32(run.sizes[i]))
                            if let keyframes = run.keyframes { w.u32(keyframes[i] ? syncSampleFlags : nonSyncSampleFlags) }
                        }
                    }
                }
            }
        }
        let moofSize = w.bytes.count
        let before = runs.map { $0.sizes.reduce(0, +) }
        for (at, index) in offsetFields { w.patch32(at: at, UInt32(moofSize + 8 + before[..<index].reduce(0, +))) }
        w.u32(UInt32(8 + before.reduce(0, +)))
        w.fourcc("mdat")
        return w.bytes
    }

    /// The `uuid` type of the box holding a fragment's chain link (5bc02462-0aaf-4f7a-8140-075bd2672694):
    /// a top-level box after the fragment's mdat, which players skip.
    public static let signatureUUID: [UInt8] = [0x5B, 0xC0, 0x24, 0x62, 0x0A, 0xAF, 0x4F, 0x7A, 0x81, 0x40, 0x07, 0x5B, 0xD2, 0x67, 0x26, 0x94]

    /// The `uuid` type of the box holding the link of a fragment an export cut at a frame
    /// (3cbf6ca2-c657-4df8-b63b-73146a3fffb8).
    public static let trimmedSignatureUUID: [UInt8] = [0x3C, 0xBF, 0x6C, 0xA2, 0xC6, 0x57, 0x4D, 0xF8, 0xB6, 0x3B, 0x73, 0x14, 0x6A, 0x3F, 0xFF, 0xB8]

    /// Makes `space` (at least 8 bytes, zeroed) one `free` box: padding that every reader skips.
    static func freeBox(_ space: UnsafeMutableRawBufferPointer) {
        precondition(space.count >= 8, "a free box takes 8 bytes at least")
        withUnsafeBytes(of: UInt32(space.count).bigEndian) { space.copyMemory(from: $0) }
        UnsafeMutableRawBufferPointer(rebasing: space[4..<8]).copyBytes(from: Array("free".utf8))
    }

    /// The `uuid` box carrying `link`.
    static func signatureBox(_ link: ChainLink) -> [UInt8] {
        uuidBox(signatureUUID, link.encoded)
    }

    /// The `uuid` box carrying the link of a cut fragment.
    static func trimmedSignatureBox(_ trimmed: TrimmedLink) -> [UInt8] {
        uuidBox(trimmedSignatureUUID, trimmed.encoded)
    }

    private static func uuidBox(_ type: [UInt8], _ body: [UInt8]) -> [UInt8] {
        var w = BoxWriter()
        w.box("uuid") { w in
            w.bytes.append(contentsOf: type)
            w.bytes.append(contentsOf: body)
        }
        return w.bytes
    }
}
