import Hummingbird
import NIOCore

/// The per-request context of every route: the client's address (for login throttling) and the
/// user the request was authenticated as.
public struct BlackboxContext: RequestContext, RemoteAddressRequestContext {
    /// Hummingbird's core storage.
    public var coreContext: CoreRequestContextStorage
    /// The peer's address.
    public let remoteAddress: SocketAddress?
    /// The logged-in user, set by the authentication middleware (nil on open routes).
    public var user: String?

    /// Creates the context for a request arriving on `source.channel`.
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}
