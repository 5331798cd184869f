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

/// A JSON request body that names its fields, so that a field not among them is refused
/// (a typo must not pass silently).
protocol JSONRequestBody: Decodable {
    /// Every field the body may have.
    static var fields: Set<String> { get }
}

/// Request bodies of the JSON API.
enum JSONBody {
    /// Largest request body the API accepts.
    static let maxBody = 16 * 1024

    /// Decodes an optional JSON body; nil when the body is empty. A body must be a JSON object sent
    /// as `application/json`, with none but `T`'s fields.
    static func decode<T: JSONRequestBody>(_ type: T.Type, _ request: Request, required: Bool = false) async throws -> T? {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: maxBody)
        } catch {
            throw HTTPErrorResponse(JSON.error(.contentTooLarge, "body too large", "request bodies are limited to \(maxBody) bytes"))
        }
        if body.readableBytes == 0 {
            guard !required else { throw HTTPErrorResponse(JSON.error(.badRequest, "missing body", "this request needs a JSON body")) }
            return nil
        }
        let mediaType = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        guard mediaType == "application/json" else {
            throw HTTPErrorResponse(JSON.error(.unsupportedMediaType, "not JSON",
                                               "the body is sent as '\(mediaType ?? "no Content-Type")'; allowed: application/json"))
        }
        let data = Data(body.readableBytesView)
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw HTTPErrorResponse(JSON.error(.badRequest, "malformed JSON", "the body must be one JSON object, e.g. {\"camera\": \"front\"}"))
        }
        if let unknown = object.keys.sorted().first(where: { !T.fields.contains($0) }) {
            let allowed = T.fields.sorted().joined(separator: ", ")
            throw HTTPErrorResponse(JSON.error(.badRequest, "unknown field",
                                               "field '\(unknown.prefix(64))' is not known; allowed: \(allowed)"))
        }
        // An optional field is given or left out; `null` is neither, and would pass as "left out".
        if let null = object.keys.sorted().first(where: { object[$0] is NSNull }) {
            throw HTTPErrorResponse(JSON.error(.badRequest, "null field", "field '\(null)' is null; allowed: a value of its type, or leave the field out"))
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw HTTPErrorResponse(JSON.error(.badRequest, "wrong type", "field '\(field)': \(context.debugDescription)"))
        } catch let DecodingError.keyNotFound(key, _) {
            throw HTTPErrorResponse(JSON.error(.badRequest, "missing field", "field '\(key.stringValue)' is required"))
        } catch {
            throw HTTPErrorResponse(JSON.error(.badRequest, "malformed JSON", "the body is not valid JSON"))
        }
    }
}

/// Gives every error answer a JSON body: the router turns an unknown path or a wrong method into
/// a bare status, and this names what was asked and what exists instead.
struct JSONErrorResponder<Inner: HTTPResponder>: HTTPResponder {
    let inner: Inner

    func respond(to request: Request, context: Inner.Context) async throws -> Response {
        if request.method == .options {
            // Answered before authentication: it reveals nothing the OpenAPI document does not.
            guard let allowed = AllowedMethods.served.methods(for: request.uri.path) else {
                return JSON.error(.notFound, "not found", "no such path: \(request.uri.path); see /api/openapi.json for the API")
            }
            var headers = HTTPFields()
            headers[.allow] = allowed.joined(separator: ", ")
            return Response(status: .noContent, headers: headers)
        }
        let response: Response
        do {
            response = try await inner.respond(to: request, context: context)
        } catch let error as HTTPError {
            return JSON.error(error.status, error.status.reasonPhrase.lowercased(), error.body ?? error.status.reasonPhrase)
        }
        guard response.status.code >= 400, response.headers[.contentType] == nil else { return response }
        if response.status == .notFound, let allowed = AllowedMethods.served.methods(for: request.uri.path) {
            var refusal = JSON.error(.methodNotAllowed, "method not allowed",
                                     "\(request.method) is not allowed on \(request.uri.path); allowed: \(allowed.joined(separator: ", "))")
            refusal.headers[.allow] = allowed.joined(separator: ", ")
            return refusal
        }
        let detail: String
        switch response.status {
        case .notFound: detail = "no such path: \(request.uri.path); see / for the page and /api/status for the API"
        case .methodNotAllowed: detail = "\(request.method) is not allowed on \(request.uri.path)"
        default: detail = response.status.reasonPhrase
        }
        return JSON.error(response.status, response.status.reasonPhrase.lowercased(), detail)
    }
}
