import Rules

/// A sound track's format: AAC-LC, mono, at a rate; what an MP4 `esds` and an SDP need to decode it.
public struct AudioFormat: Sendable, Equatable {
    /// Samples per second.
    public let sampleRate: Int
    /// Channels (1: mono).
    public let channels: Int
    /// Encoder bit rate, bits per second.
    public let bitrate: Int

    /// Samples in each AAC-LC access unit.
    public static let samplesPerUnit = 1024
    /// The rate sound is recorded at (the device's is resampled to it by the capture pipeline).
    public static let defaultRate = 48_000
    /// Default bit rate: 64 kbit/s, speech and road noise clear in mono.
    public static let defaultBitrate = 64_000
    /// Allowed bit rates (`audio_bitrate`).
    public static let bitrateRule = RangeRule(16_000...320_000)
    // MPEG-4 Audio sampling frequency index table (ISO/IEC 14496-3, 1.6.3.4).
    private static let rates = [96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000, 7_350]

    /// A format at `sampleRate`, mono.
    public init(sampleRate: Int = AudioFormat.defaultRate, channels: Int = 1, bitrate: Int = AudioFormat.defaultBitrate) {
        self.sampleRate = sampleRate
        self.channels = channels
        self.bitrate = bitrate
    }

    /// ISO/IEC 14496-3 AudioSpecificConfig: object type 2 (AAC LC), the rate's index, the channel configuration.
    public var decoderConfig: [UInt8] {
        let index = UInt16(Self.rates.firstIndex(of: sampleRate) ?? 3)
        let bits = UInt16(2) << 11 | index << 7 | UInt16(channels & 0xF) << 3
        return [UInt8(bits >> 8), UInt8(bits & 0xFF)]
    }

    /// Nanoseconds of sound in one access unit.
    public var unitNanos: UInt64 { UInt64(Self.samplesPerUnit) * 1_000_000_000 / UInt64(max(1, sampleRate)) }
}

/// One AAC access unit with the capture time of its first sample on the cameras' clock (CLOCK_MONOTONIC).
public struct EncodedAudio: Sendable {
    /// Capture time of the unit's first sample, monotonic nanoseconds.
    public let monotonicNanos: UInt64
    /// The raw AAC access unit (no ADTS header).
    public let bytes: [UInt8]

    /// A unit captured at `monotonicNanos`.
    public init(monotonicNanos: UInt64, bytes: [UInt8]) {
        self.monotonicNanos = monotonicNanos
        self.bytes = bytes
    }
}
