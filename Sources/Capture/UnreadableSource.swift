import Frames

/// A source that cannot start, saying why (a file that cannot be read): `start` throws its error.
public final class UnreadableSource: FrameSource, Sendable {
    /// What the source would have been.
    public let description: String
    /// Its size and rate.
    public let geometry: FrameGeometry
    /// Always zero.
    public let stats = SourceStats()
    private let error: CaptureError

    /// A source whose `start` throws `error`.
    public init(description: String, geometry: FrameGeometry, error: CaptureError) {
        self.description = description
        self.geometry = geometry
        self.error = error
    }

    /// Throws the error it was made with.
    public func start(sink: @escaping @Sendable (RawFrame) -> Void) throws { throw error }
    /// Nothing to stop.
    public func stop() {}
}
