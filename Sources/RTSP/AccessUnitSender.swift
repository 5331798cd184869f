import Encoding
import FrameBus
import Frames
import Platform

/// Turns the camera's H.264 frames into what a GStreamer `appsrc` takes: the decoder configuration of the
/// current parameter sets (its caps), the access unit and its age, and only frames a receiver can decode
/// (from a keyframe on, again from the next keyframe after a frame was lost).
struct AccessUnitSender {
    /// What became of a frame.
    enum Outcome {
        /// Passed on.
        case sent
        /// Nobody takes it now (no client).
        case idle
        /// Not passed on: before a keyframe, or after a loss.
        case held
        /// The receiver is behind and refused it (counted; the sender waits for a keyframe).
        case dropped
    }

    private var gate = KeyframeGate()
    private var sets: H264ParameterSets?
    private var config: [UInt8] = []
    /// SPS and PPS as length-prefixed NAL units, put in front of every keyframe.
    private var inlineSets: [UInt8] = []

    /// A push into C: the decoder configuration, the frame (its capture time included) and its bytes; returns 1 sent,
    /// 0 no client, -1 dropped.
    typealias Push = (_ config: UnsafeBufferPointer<UInt8>, _ frame: EncodedFrame, _ bytes: UnsafeRawBufferPointer) -> Int32

    /// Offers `frame` through `push`.
    mutating func send(_ frame: EncodedFrame, _ push: Push) -> Outcome {
        guard frame.codec == .h264, let frameSets = frame.parameterSets, gate.admit(frame) else { return .held }
        if frameSets != sets {
            sets = frameSets
            config = frameSets.decoderConfiguration
            inlineSets = Self.lengthPrefixed(frameSets.sps) + Self.lengthPrefixed(frameSets.pps)
        }
        // The parameter sets travel inside the keyframe's access unit, so a client joining the shared stream gets them
        // at once (rtph264pay's own config-interval would repeat them before every slice of a multi-slice IDR picture,
        // which ffmpeg then reads as several pictures).
        let result = config.withUnsafeBufferPointer { c in
            if frame.isKeyframe {
                var unit = inlineSets
                unit.append(contentsOf: frame.bytes.readableBytesView)
                return unit.withUnsafeBytes { push(c, frame, $0) }
            }
            return frame.bytes.withUnsafeReadableBytes { push(c, frame, $0) }
        }
        switch result {
        case 1: return .sent
        case 0:
            gate.lost()
            return .idle
        default:
            gate.lost()
            return .dropped
        }
    }

    /// `nal` with its 4-byte big-endian length in front.
    private static func lengthPrefixed(_ nal: [UInt8]) -> [UInt8] {
        let n = UInt32(nal.count)
        return [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + nal
    }
}
