import Foundation
import Hummingbird

/// `/login` (form and JSON), `/logout` and `/api/session`.
struct LoginRoutes: Sendable {
    let auth: Authenticator

    /// Largest login body accepted.
    static let maxBody = 4096

    func register(on router: Router<BlackboxContext>) {
        router.get("/login") { request, _ in
            if auth.sessionUser(request) != nil { return UIAssets.redirect("/") }
            return UIAssets.loginPage(message: nil, status: .ok)
        }
        router.post("/login") { request, context in try await login(request, context) }
        router.post("/logout") { request, _ in logout(request) }
        router.get("/api/session") { _, context in
            JSON.response(Session(user: context.user ?? "", publicLive: auth.settings.publicLive))
        }
    }

    struct Session: Codable {
        var user: String
        var publicLive: Bool
    }

    struct LoginRequest: Decodable {
        var user: String
        var password: String
    }

    /// Checks the form (`user`, `password`) or JSON body; opens a session and sets its cookie.
    private func login(_ request: Request, _ context: BlackboxContext) async throws -> Response {
        let json = request.headers[.contentType]?.hasPrefix("application/json") ?? false
        func fail(_ status: HTTPResponse.Status, _ error: String, _ detail: String) -> Response {
            json ? JSON.error(status, error, detail) : UIAssets.loginPage(message: detail, status: status)
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.maxBody)
        } catch {
            return fail(.contentTooLarge, "body too large", "a login is at most \(Self.maxBody) bytes")
        }
        let fields: LoginRequest
        if json {
            guard let decoded = try? JSONDecoder().decode(LoginRequest.self, from: Data(body.readableBytesView)) else {
                return fail(.badRequest, "malformed login", "send {\"user\": \"...\", \"password\": \"...\"}")
            }
            fields = decoded
        } else {
            let form = Self.formFields(String(buffer: body))
            guard let user = form["user"], let password = form["password"] else {
                return fail(.badRequest, "malformed login", "send the form fields user and password")
            }
            fields = LoginRequest(user: user, password: password)
        }
        switch await auth.verify(user: fields.user, password: fields.password, client: auth.client(request, context)) {
        case .throttled(let seconds):
            var response = fail(.tooManyRequests, "too many failed logins", "too many failed logins from this address; try again in \(seconds) s")
            response.headers[.retryAfter] = String(seconds)
            return response
        case .rejected:
            return fail(.unauthorized, "wrong user or password", "wrong user or password")
        case .accepted:
            let token = auth.sessions.open(user: fields.user)
            var response = json ? JSON.response(Session(user: fields.user, publicLive: auth.settings.publicLive)) : UIAssets.redirect("/")
            response.setCookie(Cookie(name: SessionTable.cookieName, value: token, maxAge: Int(auth.sessions.idleSeconds), path: "/",
                                      httpOnly: true, sameSite: .strict))
            return response
        }
    }

    /// Fields of an `application/x-www-form-urlencoded` body.
    static func formFields(_ body: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in body.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String? { s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding }
            guard let key = decode(kv[0]), let value = decode(kv.count > 1 ? kv[1] : "") else { continue }
            fields[key] = value
        }
        return fields
    }

    private func logout(_ request: Request) -> Response {
        if let token = request.cookies[SessionTable.cookieName]?.value { auth.sessions.close(token) }
        let json = request.headers[.accept]?.contains("application/json") ?? false
        var response = json ? JSON.response(["loggedOut": true]) : UIAssets.redirect("/login")
        response.setCookie(Cookie(name: SessionTable.cookieName, value: "", maxAge: 0, path: "/", httpOnly: true, sameSite: .strict))
        return response
    }
}
