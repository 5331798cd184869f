import Foundation
import Hummingbird

/// The body of every 4xx/5xx answer: what went wrong and what is allowed.
public struct APIError: Codable, Sendable, Equatable {
    /// Short machine-readable summary.
    public var error: String
    /// What was wrong and what is allowed.
    public var detail: String
}

enum JSON {
    /// A JSON response with sorted keys (stable output for people and diff tools).
    static func response<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// A JSON error response.
    static func error(_ status: HTTPResponse.Status, _ error: String, _ detail: String) -> Response {
        response(APIError(error: error, detail: detail), status: status)
    }
}

/// Gives every error answer a JSON body: the router turns an unknown path or a wrong method into
/// a bare status, and this names what was asked and what exists instead.
struct JSONErrorResponder<Inner: HTTPResponder>: HTTPResponder {
    let inner: Inner

    func respond(to request: Request, context: Inner.Context) async throws -> Response {
        let response: Response
        do {
            response = try await inner.respond(to: request, context: context)
        } catch let error as HTTPError {
            return JSON.error(error.status, error.status.reasonPhrase.lowercased(), error.body ?? error.status.reasonPhrase)
        }
        guard response.status.code >= 400, response.headers[.contentType] == nil else { return response }
        let detail: String
        switch response.status {
        case .notFound: detail = "no such path: \(request.uri.path); see / for the page and /api/status for the API"
        case .methodNotAllowed: detail = "\(request.method) is not allowed on \(request.uri.path)"
        default: detail = response.status.reasonPhrase
        }
        return JSON.error(response.status, response.status.reasonPhrase.lowercased(), detail)
    }
}
