/// A key or signature problem, said in words.
public struct EvidenceError: Error, Sendable, CustomStringConvertible {
    /// What went wrong and what is allowed.
    public let description: String

    /// An error with `description`.
    public init(_ description: String) {
        self.description = description
    }
}
