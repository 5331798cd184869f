/// What signature verification concluded about one file, most serious first when several apply.
public enum SignatureVerdict: String, Codable, Sendable, Comparable {
    /// No fragment carries a signature.
    case unsigned
    /// Signed, but by a key other than the expected one.
    case otherKey = "other-key"
    /// A fragment's samples, timing or link differ from what was signed, or a signature is wrong.
    case changed
    /// Fragments are missing, reordered or from another chain.
    case broken
    /// The file's stated start time differs from its signed start.
    case retimed
    /// Signed and intact up to a tail cut off by a power loss (expected, not tampering).
    case cut
    /// Every fragment signed, intact and in its chain's order.
    case intact

    private var rank: Int {
        switch self {
        case .unsigned: 0
        case .otherKey: 1
        case .changed: 2
        case .broken: 3
        case .retimed: 4
        case .cut: 5
        case .intact: 6
        }
    }

    /// More serious verdicts sort first.
    public static func < (a: SignatureVerdict, b: SignatureVerdict) -> Bool { a.rank < b.rank }
}
