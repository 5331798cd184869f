import HTTPTypes

/// Header names HTTPTypes does not define, written once (each is a valid token, so the initialiser cannot fail).
extension HTTPField.Name {
    /// The client's address as a trusted proxy saw it.
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
    /// Where a browser says the request comes from (same-origin, cross-site, …).
    static let secFetchSite = HTTPField.Name("Sec-Fetch-Site")!
    /// Set by the page's own scripts: a cross-site form cannot set it.
    static let xRequestedWith = HTTPField.Name("X-Requested-With")!
    /// HTTP/1.0 caches' no-cache.
    static let pragma = HTTPField.Name("Pragma")!
    /// A frame's capture time.
    static let xTimestamp = HTTPField.Name("X-Timestamp")!
    /// The first frame's wall-clock time of an export or playback.
    static let xStart = HTTPField.Name("X-Start")!
    /// The last frame's wall-clock time of an export or playback.
    static let xEnd = HTTPField.Name("X-End")!
    /// `X-Start` as seconds since the epoch.
    static let xStartEpoch = HTTPField.Name("X-Start-Epoch")!
    /// `X-End` as seconds since the epoch.
    static let xEndEpoch = HTTPField.Name("X-End-Epoch")!
    /// Holes in the recordings an export spans.
    static let xGaps = HTTPField.Name("X-Gaps")!
    /// The live H.264 stream's codec string (`avc1.42c01f`).
    static let xCodec = HTTPField.Name("X-Codec")!
    /// Refuses to be framed by other sites.
    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!
}
