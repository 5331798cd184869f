import Encoding
import FrameBus
import Frames
import Platform

/// Live H.264 as fragmented MP4 for a browser's Media Source Extensions (the same boxes as the recordings):
/// an init section for the stream's size and parameter sets (and its sound track when the camera has sound), then one
/// fragment per frame — the least delay MSE allows — placed by its capture time, so a frame a slow client skipped leaves
/// a gap, not a drift. The sound units captured since the frame before ride in the same fragment, placed as in the
/// recordings.
public struct LiveFragments: Sendable {
    private var sequence: UInt32 = 0
    private var startMono: UInt64?
    private var gate = KeyframeGate()
    private let nominalTicks: UInt32
    private let audio: AudioFormat?
    private var sound: SoundRun?

    /// A stream of `fps` frames per second (the nominal duration of a fragment's one sample), with sound in `audio`.
    public init(fps: Int, audio: AudioFormat? = nil) {
        nominalTicks = UInt32(FragmentedMP4.timescale / UInt64(max(1, fps)))
        self.audio = audio
    }

    /// The init section (ftyp + moov with `avcC`, and `esds` with sound) for a keyframe carrying parameter sets; nil for any other frame.
    public static func initSection(for frame: EncodedFrame, audio: AudioFormat? = nil) -> [UInt8]? {
        guard frame.codec == .h264, frame.isKeyframe, let sets = frame.parameterSets else { return nil }
        return FragmentedMP4.initSection(codec: .h264(sets), width: frame.width, height: frame.height, audio: audio,
                                         startUTC: frame.time.wallSeconds,
                                         localTime: LocalTime.iso8601(frame.time.wallSeconds, millis: frame.time.wallNanos / 1_000_000),
                                         comment: "live").bytes
    }

    /// The MSE codec string of the stream, e.g. `avc1.64001f` (profile, constraints and level from the SPS), and
    /// `mp4a.40.2` (AAC-LC) after a comma with sound.
    public static func codecString(_ sets: H264ParameterSets, audio: AudioFormat? = nil) -> String {
        let video = sets.sps.count >= 4 ? "avc1." + sets.sps[1...3].map { String($0, radix: 16).leftPadded(2) }.joined() : "avc1.42e01e"
        return audio == nil ? video : video + ",mp4a.40.2"
    }

    /// `frame` as moof + mdat, with `sounds` (the units captured since the frame before; those before the stream's
    /// start are left out). Nil while waiting for a keyframe: at the start, and after frames were skipped (the pictures
    /// after a gap refer to ones the client never got); the sound of that wait is left out too.
    public mutating func fragment(_ frame: EncodedFrame, sounds: [EncodedAudio] = []) -> [UInt8]? {
        guard gate.admit(frame) else { return nil }
        let start = startMono ?? frame.time.monotonicNanos
        if startMono == nil, let audio { sound = SoundRun(format: audio, startNanos: start) }
        startMono = start
        let ticks = (frame.time.monotonicNanos &- start) * FragmentedMP4.timescale / 1_000_000_000
        sequence &+= 1
        var runs = [FragmentedMP4.TrackRun(trackID: 1, baseTime: ticks, durations: [nominalTicks], sizes: [frame.bytes.readableBytes],
                                           keyframes: [frame.isKeyframe])]
        if sound != nil {
            for unit in sounds { _ = sound?.append(unit) }
            if let run = sound?.trackRun { runs.append(run) }
        }
        var out = FragmentedMP4.fragmentHeader(sequence: sequence, runs: runs)
        out.append(contentsOf: frame.bytes.readableBytesView)
        for unit in sound?.units ?? [] { out.append(contentsOf: unit.bytes) }
        sound?.clear()
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
