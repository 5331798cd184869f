/// A setting chosen by name from a fixed list (a codec, a mode, a capture format): its cases' raw values are the names
/// users write, and its list of allowed names is said the same way everywhere.
public protocol NamedChoice: RawRepresentable, CaseIterable, Sendable where RawValue == String {}

extension NamedChoice {
    /// The allowed names, in declaration order: `mjpeg, h264`.
    public static var allowed: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// The case named `text`, or an error naming the setting, the value and what is allowed.
    public static func parse(_ text: String, name: String) throws(RuleError) -> Self {
        guard let value = Self(rawValue: text) else {
            throw RuleError(name: name, text: text, allowed: allowed)
        }
        return value
    }
}

/// A setting chosen by name from a list of strings that no enum of this project owns (log levels).
public struct ChoiceRule: Sendable {
    /// The allowed names.
    public let names: [String]

    /// A rule allowing `names`.
    public init(_ names: [String]) {
        self.names = names
    }

    /// The allowed names, comma-separated.
    public var allowed: String { names.joined(separator: ", ") }

    /// Throws an error naming the setting, the value and what is allowed unless `text` is one of the names.
    public func check(_ text: String, name: String) throws(RuleError) {
        guard names.contains(text) else { throw RuleError(name: name, text: text, allowed: allowed) }
    }
}
