import CX264
import Frames
import Platform

/// How the H.264 recording is encoded: the x264 preset, the quality and an optional bitrate cap.
public struct H264Settings: Sendable, Equatable {
    /// x264 preset: what fits a Pi 5 core with room to spare (ultrafast or superfast).
    public var preset = "ultrafast"
    /// Constant rate factor: lower is better and larger (x264's scale, 0-51).
    public var crf = 23.0
    /// Bitrate cap in kbit/s (VBV); nil for none.
    public var maxKbps: Int?
    /// Encoder threads (0: x264 decides, sliced, without adding latency); nil chooses by the picture (`threads(width:height:fps:)`).
    public var threads: Int?

    /// The most pixels a second one x264 thread is given: 720p30 takes 2.8 ms a frame (8 % of a core) on the build
    /// machine, where x264's sliced threads cost about a tenth more CPU in waking each other for every picture.
    public static let oneThreadPixelRate = 1280 * 720 * 30

    /// The threads x264 gets for this picture: the setting, else one up to 720p30's pixel rate and x264's sliced threads
    /// above (a 1080p30 camera spreads over the Pi's cores instead of falling behind on one).
    public func threads(width: Int, height: Int, fps: Int) -> Int {
        threads ?? (width * height * max(1, fps) <= Self.oneThreadPixelRate ? 1 : 0)
    }

    /// The defaults: ultrafast, CRF 23, no cap.
    public init() {}
}

/// One H.264 access unit out of the encoder: its NAL units in MP4 form (each with a 4-byte
/// big-endian length), and whether it is an IDR picture that decodes on its own.
public struct H264AccessUnit: Sendable {
    /// Length-prefixed NAL units.
    public var bytes: [UInt8]
    /// An IDR picture.
    public var isKeyframe: Bool
}

/// The codec parameters a decoder needs before the first picture (they go into the MP4 `avcC`).
public struct H264ParameterSets: Sendable, Equatable {
    /// Sequence parameter set (NAL unit without length or start code).
    public var sps: [UInt8]
    /// Picture parameter set.
    public var pps: [UInt8]

    /// The ISO/IEC 14496-15 `AVCDecoderConfigurationRecord` (MP4's `avcC`, GStreamer's `codec_data`):
    /// profile and level from the SPS, 4-byte NAL lengths, one SPS and one PPS.
    public var decoderConfiguration: [UInt8] {
        var out: [UInt8] = [1, sps.count > 1 ? sps[1] : 0, sps.count > 2 ? sps[2] : 0, sps.count > 3 ? sps[3] : 0, 0xFF, 0xE1]
        out += [UInt8(sps.count >> 8), UInt8(sps.count & 0xFF)] + sps
        out += [1, UInt8(pps.count >> 8), UInt8(pps.count & 0xFF)] + pps
        return out
    }
}

/// A failure of x264, with what was asked.
public struct H264Error: Error, CustomStringConvertible {
    /// What failed.
    public let description: String
}

/// libx264 for one stream of YUV 4:2:0 pictures of a fixed size: no B-frames, no lookahead
/// (zerolatency: one access unit out for each picture in), CRF with an optional VBV cap, and an IDR
/// picture whenever the caller asks (at the start of every fragment, so each decodes on its own).
/// Not thread-safe: one encoder belongs to one thread.
public final class H264Encoder {
    private let encoder: OpaquePointer
    /// Picture size.
    public let width: Int
    public let height: Int
    /// SPS and PPS of the stream.
    public let parameterSets: H264ParameterSets
    private let counted: InstanceCount?

    /// Opens an encoder for `width`x`height` at `fps`; `keyframeInterval` frames at most between IDR pictures; it
    /// counts itself in `counted` while it is open.
    public init(width: Int, height: Int, fps: Int, keyframeInterval: Int, settings: H264Settings = H264Settings(),
                counted: InstanceCount? = nil) throws {
        var param = x264_param_t()
        guard x264_param_default_preset(&param, settings.preset, "zerolatency") == 0 else {
            throw H264Error(description: "x264 preset '\(settings.preset)' is not known; allowed: ultrafast, superfast, veryfast, faster, fast, medium")
        }
        param.i_width = Int32(width)
        param.i_height = Int32(height)
        param.i_csp = X264_CSP_I420
        param.i_fps_num = UInt32(max(1, fps))
        param.i_fps_den = 1
        param.i_timebase_num = 1
        param.i_timebase_den = UInt32(max(1, fps))
        param.i_keyint_max = Int32(max(1, keyframeInterval))
        param.i_keyint_min = Int32(max(1, keyframeInterval))
        param.i_bframe = 0
        param.i_threads = Int32(settings.threads(width: width, height: height, fps: fps))
        param.i_log_level = X264_LOG_ERROR
        param.rc.i_rc_method = X264_RC_CRF
        param.rc.f_rf_constant = Float(settings.crf)
        if let cap = settings.maxKbps {
            param.rc.i_vbv_max_bitrate = Int32(cap)
            param.rc.i_vbv_buffer_size = Int32(cap)  // one second of the cap
        }
        // MP4 wants length-prefixed NAL units and the parameter sets once, in avcC.
        param.b_annexb = 0
        param.b_repeat_headers = 0
        param.b_aud = 0
        guard x264_param_apply_profile(&param, "high") == 0, let encoder = blackbox_x264_encoder_open(&param) else {
            throw H264Error(description: "x264 cannot encode \(width)x\(height)@\(fps) with preset \(settings.preset)")
        }
        self.encoder = encoder
        self.width = width
        self.height = height
        var nals: UnsafeMutablePointer<x264_nal_t>?
        var count: Int32 = 0
        guard x264_encoder_headers(encoder, &nals, &count) >= 0, let nals else {
            x264_encoder_close(encoder)
            throw H264Error(description: "x264 gave no stream headers")
        }
        var sps: [UInt8] = [], pps: [UInt8] = []
        for i in 0..<Int(count) {
            let nal = nals[i]
            // Payloads carry the 4-byte length first (b_annexb = 0): the parameter sets are without it.
            let body = Array(UnsafeBufferPointer(start: nal.p_payload + 4, count: Int(nal.i_payload) - 4))
            if nal.i_type == Int32(NAL_SPS.rawValue) { sps = body }
            if nal.i_type == Int32(NAL_PPS.rawValue) { pps = body }
        }
        guard !sps.isEmpty, !pps.isEmpty else {
            x264_encoder_close(encoder)
            throw H264Error(description: "x264 gave no SPS/PPS")
        }
        parameterSets = H264ParameterSets(sps: sps, pps: pps)
        self.counted = counted
        counted?.opened()
    }

    deinit {
        x264_encoder_close(encoder)
        counted?.closed()
    }

    /// Encodes one I420 picture (`planes` Y, U, V); an IDR picture when `keyframe` is set. Returns
    /// nil when x264 produced nothing for it.
    public func encode(_ planes: [Plane], pts: Int64, keyframe: Bool) throws -> H264AccessUnit? {
        guard planes.count == 3 else { throw H264Error(description: "x264 needs three planes (I420), got \(planes.count)") }
        var input = x264_picture_t()
        x264_picture_init(&input)
        input.img.i_csp = X264_CSP_I420
        input.img.i_plane = 3
        input.i_pts = pts
        input.i_type = keyframe ? X264_TYPE_IDR : X264_TYPE_AUTO
        // x264 reads the caller's planes in place; no copy.
        withUnsafeMutablePointer(to: &input.img.plane) { p in
            p.withMemoryRebound(to: UnsafeMutablePointer<UInt8>?.self, capacity: 4) { planesOut in
                for i in 0..<3 { planesOut[i] = planes[i].base }
            }
        }
        withUnsafeMutablePointer(to: &input.img.i_stride) { p in
            p.withMemoryRebound(to: Int32.self, capacity: 4) { strides in
                for i in 0..<3 { strides[i] = Int32(planes[i].stride) }
            }
        }
        var output = x264_picture_t()
        var nals: UnsafeMutablePointer<x264_nal_t>?
        var count: Int32 = 0
        let size = x264_encoder_encode(encoder, &nals, &count, &input, &output)
        guard size >= 0 else { throw H264Error(description: "x264_encoder_encode failed") }
        guard size > 0, let nals else { return nil }
        // The NAL payloads of one call are consecutive in x264's buffer.
        let bytes = Array(UnsafeBufferPointer(start: nals[0].p_payload, count: Int(size)))
        return H264AccessUnit(bytes: bytes, isKeyframe: output.b_keyframe != 0)
    }
}
