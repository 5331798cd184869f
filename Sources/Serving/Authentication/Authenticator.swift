import Foundation
import Frames
import Access
import Platform
import HTTPTypes
import Hummingbird
import HummingbirdAuth
import NIOPosix
import Synchronization

/// Who may see what: `open` routes need nothing, `live` ones need credentials unless
/// `public_live` is set, and everything else (control, recordings, metrics, the UI) always does.
enum Access: Equatable {
    case open, live, restricted
}

/// How the daemon authenticates: its one account and whether the live view is public.
public struct AuthSettings: Sendable {
    /// The account.
    public var credentials: Credentials
    /// Live MJPEG and snapshots without credentials (`[server] public_live`).
    public var publicLive: Bool
    /// Reverse proxies whose `X-Forwarded-For` names the client (`[server] trusted_proxies`).
    public var trustedProxies: Set<String>

    /// Creates the settings.
    public init(credentials: Credentials, publicLive: Bool = false, trustedProxies: [String] = []) {
        self.credentials = credentials
        self.publicLive = publicLive
        self.trustedProxies = Set(trustedProxies)
    }
}

/// Checks credentials (session cookie or HTTP Basic), keeps sessions, throttles failed logins.
final class Authenticator: Sendable {
    let settings: AuthSettings
    let sessions = SessionTable()
    let throttle = LoginThrottle()
    /// Basic `Authorization` values already verified, with when: a stream client (VLC, Home
    /// Assistant polling snapshots) sends the same header on every request, and bcrypt is slow on purpose.
    private let verifiedBasic = Mutex<[String: UInt64]>([:])
    private static let basicCacheNanos: UInt64 = 600 * 1_000_000_000

    init(settings: AuthSettings) {
        self.settings = settings
    }

    /// The result of checking a user name and password.
    enum Verdict: Equatable {
        case accepted
        case rejected
        case throttled(retryAfter: Int)
    }

    /// Paths served to anyone: the login page and its assets, liveness, the API description.
    static func access(_ request: Request) -> Access {
        let path = request.uri.path
        switch path {
        case "/login", "/healthz", "/api/openapi.json":
            return .open
        case "/stream", "/stream.mp4", "/video_feed", "/snapshot", "/snapshot.jpg":
            return .live
        case "/":
            return request.uri.queryParameters["action"] == nil ? .restricted : .live
        default:
            return path.hasPrefix("/ui/") ? .open : .restricted
        }
    }

    /// The address login attempts are counted against: the peer, or for a request through a trusted
    /// proxy the nearest `X-Forwarded-For` entry that is not itself a trusted proxy.
    func client(_ request: Request, _ context: BlackboxContext) -> String {
        let peer = context.remoteAddress?.ipAddress ?? "unknown"
        guard settings.trustedProxies.contains(peer), let forwarded = request.headers[values: .xForwardedFor].last else {
            return peer
        }
        let hops = forwarded.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return hops.last { !settings.trustedProxies.contains($0) } ?? peer
    }

    /// Checks `user`/`password` for `client`, counting failures; bcrypt runs on NIO's blocking pool.
    func verify(user: String, password: String, client: String) async -> Verdict {
        if let wait = throttle.retryAfter(client) { return .throttled(retryAfter: wait) }
        let credentials = settings.credentials
        let ok = (try? await Blocking.run { credentials.verify(user: user, password: password) }) ?? false
        if ok {
            throttle.succeed(client)
            return .accepted
        }
        throttle.fail(client)
        return .rejected
    }

    /// Checks an HTTP Basic header, using the cache of recently verified ones.
    func verifyBasic(_ request: Request, client: String) async -> Verdict? {
        guard let header = request.headers[.authorization], let basic = request.headers.basic else { return nil }
        let now = MonotonicClock.nanos()
        let cached = verifiedBasic.withLock { cache -> Bool in
            guard let at = cache[header] else { return false }
            if now &- at < Self.basicCacheNanos { return true }
            cache[header] = nil
            return false
        }
        if cached { return .accepted }
        let verdict = await verify(user: basic.username, password: basic.password, client: client)
        if verdict == .accepted {
            verifiedBasic.withLock { cache in
                if cache.count >= 16 { cache.removeAll() }
                cache[header] = now
            }
        }
        return verdict
    }

    /// The user of the request's session cookie, if it names a live session.
    func sessionUser(_ request: Request) -> String? {
        guard let token = request.cookies[SessionTable.cookieName]?.value else { return nil }
        return sessions.user(for: token)
    }

    /// A refusal when a state-changing request comes from another site (CSRF): the browser says
    /// so in `Sec-Fetch-Site`, or its `Origin` is not this server.
    static func crossSiteRefusal(_ request: Request) -> Response? {
        guard ![.get, .head, .options].contains(request.method) else { return nil }
        if let site = request.headers[.secFetchSite], site != "same-origin", site != "none" {
            return JSON.error(.forbidden, "cross-site request", "state-changing requests are accepted from this server's own pages only (Sec-Fetch-Site: \(site))")
        }
        if let origin = request.headers[.origin] {
            let host = request.head.authority ?? ""
            guard !host.isEmpty, origin == "http://\(host)" || origin == "https://\(host)" else {
                return JSON.error(.forbidden, "cross-site request", "state-changing requests are accepted from this server's own pages only (Origin: \(origin))")
            }
        }
        return nil
    }

    /// 401 for a request without valid credentials. Scripts and players get a Basic challenge;
    /// the web UI's own requests (`X-Requested-With`) do not, so no browser dialog pops up.
    static func unauthorized(_ request: Request, _ detail: String) -> Response {
        if request.method == .get, request.uri.path == "/", request.uri.queryParameters["action"] == nil {
            return UIAssets.redirect("/login")
        }
        var response = JSON.error(.unauthorized, "unauthorized", detail)
        if request.headers[.xRequestedWith] == nil {
            response.headers[.wwwAuthenticate] = "Basic realm=\"blackbox\", charset=\"UTF-8\""
        }
        return response
    }

    /// 429 while a client is locked out.
    static func tooManyAttempts(_ seconds: Int) -> Response {
        var response = JSON.error(.tooManyRequests, "too many failed logins",
                                  "this address has failed to log in too often; try again in \(seconds) s")
        response.headers[.retryAfter] = String(seconds)
        return response
    }
}

/// Lets a request through only when its route's access rule is met (see `Access`).
struct AuthMiddleware: RouterMiddleware {
    typealias Context = BlackboxContext
    let auth: Authenticator

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let refusal = Authenticator.crossSiteRefusal(request) { return refusal }
        let access = Authenticator.access(request)
        if access == .open || (access == .live && auth.settings.publicLive) {
            return try await next(request, context)
        }
        var context = context
        if let user = auth.sessionUser(request) {
            context.user = user
            return try await next(request, context)
        }
        switch await auth.verifyBasic(request, client: auth.client(request, context)) {
        case .accepted?:
            context.user = request.headers.basic?.username
            return try await next(request, context)
        case .throttled(let seconds)?:
            return Authenticator.tooManyAttempts(seconds)
        case .rejected?:
            return Authenticator.unauthorized(request, "wrong user or password")
        case nil:
            return Authenticator.unauthorized(request, "log in at /login, or send HTTP Basic credentials")
        }
    }
}
