import Encoding
import FrameBus
import Frames
import Platform

/// Live H.264 as fragmented MP4 for a browser's Media Source Extensions (the same boxes as the recordings):
/// an init section for the stream's size and parameter sets, then one fragment per frame — the least delay
/// MSE allows — placed by its capture time, so a frame a slow client skipped leaves a gap, not a drift.
public struct LiveFragments: Sendable {
    private var sequence: UInt32 = 0
    private var startMono: UInt64?
    private var gate = KeyframeGate()
    private let nominalTicks: UInt32

    /// A stream of `fps` frames per second (the nominal duration of a fragment's one sample).
    public init(fps: Int) {
        nominalTicks = UInt32(FragmentedMP4.timescale / UInt64(max(1, fps)))
    }

    /// The init section (ftyp + moov with `avcC`) for a keyframe carrying parameter sets; nil for any other frame.
    public static func initSection(for frame: EncodedFrame) -> [UInt8]? {
        guard frame.codec == .h264, frame.isKeyframe, let sets = frame.parameterSets else { return nil }
        return FragmentedMP4.initSection(codec: .h264(sets), width: frame.width, height: frame.height, startUTC: frame.time.wallSeconds,
                                         localTime: LocalTime.iso8601(frame.time.wallSeconds, millis: frame.time.wallNanos / 1_000_000),
                                         comment: "live").bytes
    }

    /// The MSE codec string of the stream, e.g. `avc1.64001f` (profile, constraints and level from the SPS).
    public static func codecString(_ sets: H264ParameterSets) -> String {
        guard sets.sps.count >= 4 else { return "avc1.42e01e" }
        return "avc1." + sets.sps[1...3].map { String($0, radix: 16).leftPadded(2) }.joined()
    }

    /// `frame` as moof + mdat. Nil while waiting for a keyframe: at the start, and after frames were skipped
    /// (the pictures after a gap refer to ones the client never got).
    public mutating func fragment(_ frame: EncodedFrame) -> [UInt8]? {
        guard gate.admit(frame) else { return nil }
        let start = startMono ?? frame.time.monotonicNanos
        startMono = start
        let ticks = (frame.time.monotonicNanos &- start) * FragmentedMP4.timescale / 1_000_000_000
        sequence &+= 1
        var out = FragmentedMP4.fragmentHeader(sequence: sequence, runs: [
            .init(trackID: 1, baseTime: ticks, durations: [nominalTicks], sizes: [frame.bytes.readableBytes], keyframes: [frame.isKeyframe])])
        out.append(contentsOf: frame.bytes.readableBytesView)
        return out
    }

    /// Capture time (seconds since 1970) of media time zero: the first fragment's frame.
    public static func startEpoch(of frame: EncodedFrame) -> Double {
        Double(frame.time.wallSeconds) + Double(frame.time.wallNanos) / 1e9
    }
}

extension String {
    /// The string with `width - count` zeros in front.
    fileprivate func leftPadded(_ width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
