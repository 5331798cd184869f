import Foundation
import HTTPTypes

/// Which methods each path answers, read from the OpenAPI document the server publishes (a test
/// checks that document against what is served), so a 405's `Allow` and an `OPTIONS` answer cannot
/// drift from the routes. `{name}` matches one path segment; `{path}` matches one or more.
struct AllowedMethods: Sendable {
    private let routes: [(segments: [Substring], methods: [String])]

    /// The table of the served OpenAPI document.
    static let served = AllowedMethods(openAPI: Data(OpenAPIDocument.bytes))

    init(openAPI: Data) {
        let paths = ((try? JSONSerialization.jsonObject(with: openAPI)) as? [String: Any])?["paths"] as? [String: [String: Any]] ?? [:]
        let verbs = ["get", "head", "post", "put", "patch", "delete"]
        routes = paths.map { path, item in
            var methods = verbs.filter { item[$0] != nil }.map { $0.uppercased() }
            if methods.contains("GET"), !methods.contains("HEAD") { methods.insert("HEAD", at: methods.firstIndex(of: "GET")! + 1) }
            return (path.split(separator: "/", omittingEmptySubsequences: false), methods + ["OPTIONS"])
        }
    }

    /// The methods `path` answers, nil for a path that does not exist.
    func methods(for path: String) -> [String]? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        return routes.first { Self.matches($0.segments, parts[...]) }?.methods
    }

    private static func matches(_ pattern: [Substring], _ parts: ArraySlice<Substring>) -> Bool {
        guard let head = pattern.first else { return parts.isEmpty }
        if head == "{path}" {
            // One or more segments, then the rest of the pattern.
            return (1...max(1, parts.count)).contains { n in n <= parts.count && !parts.prefix(n).contains("") && matches(Array(pattern.dropFirst()), parts.dropFirst(n)) }
        }
        guard let part = parts.first else { return false }
        let ok = head.hasPrefix("{") ? !part.isEmpty : head == part
        return ok && matches(Array(pattern.dropFirst()), parts.dropFirst())
    }
}
