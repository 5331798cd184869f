import HTTPTypes
import Hummingbird

/// The web UI's files, compiled into the binary (no build step, no CDN: it works offline in a car).
enum UIAssets {
    /// Strict by default: the pages load only their own scripts, styles and images, and map tiles from `tiles` if one is given.
    static func contentSecurityPolicy(tiles: String? = nil) -> String {
        "default-src 'self'; img-src 'self' data: blob:\(tiles.map { " " + $0 } ?? ""); media-src 'self' blob:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'"
    }

    static func register(on router: Router<BlackboxContext>) {
        router.get("/ui/app.js") { _, _ in asset(PackageResources.app_js, type: "text/javascript; charset=utf-8") }
        router.get("/ui/app.css") { _, _ in asset(PackageResources.app_css, type: "text/css; charset=utf-8") }
    }

    /// The single-page UI at `/`; `tiles` is the origin the GPS map's tiles come from (nil: none).
    static func indexPage(tiles: String? = nil) -> Response {
        page(String(decoding: PackageResources.index_html, as: UTF8.self), status: .ok, tiles: tiles)
    }

    /// The login form, with `message` shown above it (an error after a failed attempt).
    static func loginPage(message: String?, status: HTTPResponse.Status) -> Response {
        let text = String(decoding: PackageResources.login_html, as: UTF8.self)
            .replacingOccurrences(of: "<!--message-->", with: message.map { "<p class=\"error\" role=\"alert\">\(escape($0))</p>" } ?? "")
        return page(text, status: status)
    }

    /// 303 to `location` (after a login, or to the login form).
    static func redirect(_ location: String) -> Response {
        var headers = HTTPFields()
        headers[.location] = location
        headers[.cacheControl] = "no-store"
        return Response(status: .seeOther, headers: headers)
    }

    private static func page(_ html: String, status: HTTPResponse.Status, tiles: String? = nil) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        headers[.contentSecurityPolicy] = contentSecurityPolicy(tiles: tiles)
        headers[.xFrameOptions] = "DENY"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// A file compiled into the binary.
    static func asset(_ bytes: [UInt8], type: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = type
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// HTML-escapes text for the page.
    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
