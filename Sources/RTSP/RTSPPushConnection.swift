import Foundation
import Frames
import Platform
#if canImport(Glibc)
import Glibc
import ServiceSettings
#endif

/// One RTSP RECORD session to a receiver (MediaMTX, go2rtc, ffmpeg's `-rtsp_flags listen`): ANNOUNCE with the SDP,
/// SETUP for RTP over this TCP connection (interleaved channels 0 and 1, and 2 and 3 for sound), RECORD, then RTP and RTCP packets.
/// Blocking, with 5 s timeouts on every call: used on the publisher's own thread.
final class RTSPPushConnection {
    /// The parts of an `rtsp://user:password@host:port/path` address.
    struct Address {
        var host: String
        var port: Int
        /// The address without user and password: what requests name.
        var url: String
        var user: String?
        var password: String?

        init(_ text: String) throws(RTSPError) {
            guard let parts = URLComponents(string: text), parts.scheme == "rtsp", let host = parts.host, !host.isEmpty else {
                throw RTSPError("'\(text)' is not an RTSP address; allowed: rtsp://[USER:PASSWORD@]HOST[:PORT]/PATH")
            }
            self.host = host
            port = parts.port ?? 554
            user = parts.user
            password = parts.password
            var bare = parts
            bare.user = nil
            bare.password = nil
            url = bare.string ?? text
        }
    }

    private let address: Address
    private var fd: Int32 = -1
    private var cseq = 0
    private var session: String?
    private var authorization: ((String, String) -> String)?
    private var input: [UInt8] = []

    /// Connects to the receiver (5 s at most).
    init(address: Address) throws(RTSPError) {
        self.address = address
        fd = try Self.connect(host: address.host, port: address.port)
    }

    deinit {
        if fd >= 0 { Glibc.close(fd) }
    }

    /// ANNOUNCE `sdp`, SETUP each of its `streams` tracks (`streamid=N` on interleaved channels 2N and 2N+1), RECORD.
    func start(sdp: String, streams: Int = 1) throws(RTSPError) {
        _ = try request("ANNOUNCE", address.url, headers: ["Content-Type": "application/sdp"], body: sdp)
        for stream in 0..<streams {
            let reply = try request("SETUP", address.url + "/streamid=\(stream)",
                                    headers: ["Transport": "RTP/AVP/TCP;unicast;interleaved=\(2 * stream)-\(2 * stream + 1);mode=record"])
            guard session == nil else { continue }
            guard let id = reply["session"]?.split(separator: ";").first else { throw RTSPError("the receiver's SETUP answer has no Session") }
            session = String(id).trimmingCharacters(in: .whitespaces)
        }
        _ = try request("RECORD", address.url, headers: ["Range": "npt=0.000-"])
    }

    /// Sends one RTP (even channel) or RTCP (odd channel) packet.
    func send(channel: UInt8, _ packet: [UInt8]) throws(RTSPError) {
        try write([0x24, channel, UInt8(packet.count >> 8), UInt8(packet.count & 0xFF)] + packet)
    }

    /// Reads and drops what the receiver sent (receiver reports, keep-alive answers); fails once it closed the connection.
    func drain() throws(RTSPError) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = retryingEINTR { buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) } }
            if n > 0 { continue }
            if n == 0 { throw RTSPError("the receiver closed the connection") }
            if errno == EAGAIN || errno == EWOULDBLOCK { return }
            throw RTSPError("reading from the receiver: \(String(cString: strerror(errno)))")
        }
    }

    /// TEARDOWN (best effort) and close.
    func close() {
        if session != nil { try? write(Array(requestText("TEARDOWN", address.url, headers: [:], body: nil).utf8)) }
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    // MARK: - Requests

    private func requestText(_ method: String, _ url: String, headers: [String: String], body: String?) -> String {
        cseq += 1
        var lines = ["\(method) \(url) RTSP/1.0", "CSeq: \(cseq)", "User-Agent: blackbox"]
        if let session { lines.append("Session: \(session)") }
        if let authorization { lines.append("Authorization: \(authorization(method, url))") }
        lines += headers.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
        if let body { lines.append("Content-Length: \(body.utf8.count)") }
        return lines.joined(separator: "\r\n") + "\r\n\r\n" + (body ?? "")
    }

    /// Sends a request and reads its answer, answering one authentication challenge; returns the answer's headers.
    private func request(_ method: String, _ url: String, headers: [String: String], body: String? = nil) throws(RTSPError) -> [String: String] {
        for attempt in 0..<2 {
            try write(Array(requestText(method, url, headers: headers, body: body).utf8))
            let (status, reply) = try readResponse()
            if status == 401, attempt == 0, let user = address.user, let challenge = reply["www-authenticate"] {
                authorization = Self.answer(challenge, user: user, password: address.password ?? "")
                continue
            }
            guard status == 200 else {
                throw RTSPError("the receiver answered \(method) with \(status)\(status == 401 ? " (user or password wrong or missing in the publish address)" : "")")
            }
            return reply
        }
        throw RTSPError("the receiver refused the credentials for \(method)")
    }

    /// How to answer a `WWW-Authenticate` challenge (Digest when offered, else Basic).
    private static func answer(_ challenge: String, user: String, password: String) -> (String, String) -> String {
        func field(_ name: String) -> String? {
            guard let r = challenge.range(of: "\(name)=\"") else { return nil }
            return String(challenge[r.upperBound...].prefix { $0 != "\"" })
        }
        if challenge.lowercased().hasPrefix("digest"), let realm = field("realm"), let nonce = field("nonce") {
            return { method, uri in DigestAuth.authorization(user: user, password: password, realm: realm, nonce: nonce, method: method, uri: uri) }
        }
        let basic = "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
        return { _, _ in basic }
    }

    /// The next response: status and lower-cased headers (interleaved packets before it are skipped).
    private func readResponse() throws(RTSPError) -> (Int, [String: String]) {
        while true {
            if input.first == 0x24 {
                guard input.count >= 4 else { try fill(); continue }
                let size = Int(input[2]) << 8 | Int(input[3])
                guard input.count >= 4 + size else { try fill(); continue }
                input.removeFirst(4 + size)
                continue
            }
            guard let end = Self.headerEnd(input) else { try fill(); continue }
            let head = String(decoding: input[..<end], as: UTF8.self)
            var headers: [String: String] = [:]
            let lines = head.components(separatedBy: "\r\n")
            for line in lines.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                // WWW-Authenticate may come twice (Basic and Digest): Digest is kept.
                let name = line[..<colon].lowercased(), value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                if headers[name] == nil || value.lowercased().hasPrefix("digest") { headers[name] = value }
            }
            let length = Int(headers["content-length"] ?? "0") ?? 0
            while input.count < end + 4 + length { try fill() }
            input.removeFirst(end + 4 + length)
            let parts = lines[0].split(separator: " ")
            guard parts.count >= 2, parts[0].hasPrefix("RTSP/"), let status = Int(parts[1]) else {
                throw RTSPError("the receiver did not answer in RTSP: '\(lines[0].prefix(80))'")
            }
            return (status, headers)
        }
    }

    private static func headerEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4) where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 { return i }
        return nil
    }

    private func fill() throws(RTSPError) {
        guard input.count < 65536 else { throw RTSPError("the receiver's answer is too long") }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = retryingEINTR { buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) } }
        guard n > 0 else {
            throw RTSPError(n == 0 ? "the receiver closed the connection" : "no answer from the receiver: \(String(cString: strerror(errno)))")
        }
        input += buffer[..<n]
    }

    private func write(_ bytes: [UInt8]) throws(RTSPError) {
        let failure: Int32 = bytes.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = retryingEINTR { Glibc.send(fd, raw.baseAddress! + done, raw.count - done, Int32(MSG_NOSIGNAL)) }
                guard n > 0 else { return n == 0 ? EIO : errno }
                done += n
            }
            return 0
        }
        if failure != 0 {
            throw RTSPError(failure == EAGAIN ? "the receiver took nothing for 5 s" : "sending to the receiver: \(String(cString: strerror(failure)))")
        }
    }

    /// A TCP connection to `host`:`port` within 5 s, with 5 s send and receive timeouts.
    private static func connect(host: String, port: Int) throws(RTSPError) -> Int32 {
        do {
            return try connectTCP(host: host, port: port)
        } catch {
            throw RTSPError(error.description)
        }
    }
}
