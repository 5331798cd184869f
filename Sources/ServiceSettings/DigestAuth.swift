import Crypto

/// RTSP Digest authentication (RFC 2617 without qop, as RTSP servers and clients use it).
public enum DigestAuth {
    /// Lowercase hex MD5 of `text`.
    public static func md5(_ text: String) -> String {
        Insecure.MD5.hash(data: Array(text.utf8)).map { byte in
            let digits = Array("0123456789abcdef")
            return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
        }.joined()
    }

    /// HA1: MD5 of `user:realm:password` (what a server stores instead of the password).
    public static func ha1(user: String, realm: String, password: String) -> String {
        md5("\(user):\(realm):\(password)")
    }

    /// The `Authorization` header answering a `WWW-Authenticate: Digest realm=…, nonce=…` challenge.
    public static func authorization(user: String, password: String, realm: String, nonce: String, method: String, uri: String) -> String {
        let response = md5("\(ha1(user: user, realm: realm, password: password)):\(nonce):\(md5("\(method):\(uri)"))")
        return "Digest username=\"\(user)\", realm=\"\(realm)\", nonce=\"\(nonce)\", uri=\"\(uri)\", response=\"\(response)\""
    }
}
