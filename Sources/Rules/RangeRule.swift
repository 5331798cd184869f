/// A numeric setting's allowed range and the words that say it, stated once on the setting's domain type; the flag
/// parser, the configuration file, the HTTP API and `doctor` all check with it and answer with its words.
public struct RangeRule<Value: Comparable & Sendable>: Sendable {
    /// The values allowed.
    public let range: ClosedRange<Value>
    /// How the range is said in an error: `1 to 100`.
    public let allowed: String

    /// A rule for `range`, said as `LOWER to UPPER` unless `allowed` says it otherwise.
    public init(_ range: ClosedRange<Value>, allowed: String? = nil) {
        self.range = range
        self.allowed = allowed ?? "\(range.lowerBound) to \(range.upperBound)"
    }

    /// Whether `value` is allowed.
    public func contains(_ value: Value) -> Bool { range.contains(value) }

    /// `NAME VALUE is out of range; allowed: …`, or nil when `value` is allowed.
    public func problem(_ value: Value, name: String) -> String? {
        contains(value) ? nil : "\(name) \(value) is out of range; allowed: \(allowed)"
    }

    /// Throws `problem(value, name:)` when there is one.
    public func check(_ value: Value, name: String) throws(RuleError) {
        if let problem = problem(value, name: name) { throw RuleError(problem) }
    }
}

/// A value a rule does not allow: the whole sentence, naming the setting, the value and what is allowed.
public struct RuleError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The sentence.
    public let description: String

    /// An error saying `description`.
    public init(_ description: String) {
        self.description = description
    }

    /// `NAME 'TEXT' PROBLEM; allowed: ALLOWED`, the sentence every named choice and parsed value answers with.
    public init(name: String, text: String, problem: String = "is not known", allowed: String) {
        description = "\(name) '\(text.prefix(32))' \(problem); allowed: \(allowed)"
    }
}
