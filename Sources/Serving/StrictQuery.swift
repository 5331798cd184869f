import Foundation
import Hummingbird
import Recording

/// A request's query parameters, refused with a 400 naming what is allowed when one is unknown or malformed.
struct StrictQuery {
    private let values: [String: String]

    /// The query of `request`; throws when it has a parameter not in `allowed`.
    init(_ request: Request, allowed: [String]) throws(HTTPErrorResponse) {
        var values: [String: String] = [:]
        for (key, value) in request.uri.queryParameters {
            let name = String(key)
            guard allowed.contains(name) else {
                throw HTTPErrorResponse(JSON.error(.badRequest, "unknown parameter",
                                                   "parameter '\(name.prefix(64))' is not known; allowed: \(allowed.joined(separator: ", "))"))
            }
            values[name] = String(value)
        }
        self.values = values
    }

    /// The raw value of `name`.
    subscript(_ name: String) -> String? { values[name] }

    /// `name` as an RFC 3339 time (Unix nanoseconds).
    func time(_ name: String) throws(HTTPErrorResponse) -> Int64? {
        guard let text = values[name] else { return nil }
        guard let t = WallTime.parse(text) else {
            throw HTTPErrorResponse(JSON.error(.badRequest, "bad time", "\(name) '\(text.prefix(64))' is not a time; allowed: \(WallTime.allowed)"))
        }
        return t
    }

    /// `name` as a day, YYYY-MM-DD.
    func day(_ name: String) throws(HTTPErrorResponse) -> String? {
        guard let text = values[name] else { return nil }
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.map(\.count) == [4, 2, 2], parts.allSatisfy({ $0.allSatisfy(\.isASCII) && Int($0) != nil }),
              let m = Int(parts[1]), let d = Int(parts[2]), (1...12).contains(m), (1...31).contains(d) else {
            throw HTTPErrorResponse(JSON.error(.badRequest, "bad day", "\(name) '\(text.prefix(64))' is not a day; allowed: YYYY-MM-DD, like 2026-11-25"))
        }
        return text
    }

    /// `name` as a whole number in `range`.
    func integer(_ name: String, in range: ClosedRange<Int>) throws(HTTPErrorResponse) -> Int? {
        guard let text = values[name] else { return nil }
        guard let n = Int(text), range.contains(n) else {
            throw HTTPErrorResponse(JSON.error(.badRequest, "out of range", "\(name) '\(text.prefix(64))' is out of range; allowed: \(range.lowerBound) to \(range.upperBound)"))
        }
        return n
    }
}
