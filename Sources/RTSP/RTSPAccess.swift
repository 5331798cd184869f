/// Who may pull the RTSP streams: the web UI's account (Basic checked against its bcrypt hash, Digest with
/// the stored HA1), or anyone when the live view is public.
public struct RTSPAccess: Sendable {
    /// Realm of Digest authentication; the HA1 is stored for this realm.
    public static let realm = "blackbox"
    /// Anyone may watch (`public_live`).
    public var anonymous: Bool
    /// The account's user name.
    public var user: String
    /// MD5 of `user:blackbox:password`, kept when the password was set; nil: Basic only.
    public var digestHA1: String?
    /// Checks a user and password (bcrypt: slow, called on the RTSP server's threads).
    public var verify: @Sendable (_ user: String, _ password: String) -> Bool

    /// Access for `user`.
    public init(anonymous: Bool, user: String, digestHA1: String?, verify: @escaping @Sendable (String, String) -> Bool) {
        self.anonymous = anonymous
        self.user = user
        self.digestHA1 = digestHA1
        self.verify = verify
    }
}
