import Rules

/// Where a camera's sound comes from: an ALSA capture device, or the synthetic click that marks the test pattern's
/// white flash once a second (for measuring sync). Off unless configured: recording conversations is not legal everywhere.
public enum AudioInput: Sendable, Equatable, CustomStringConvertible {
    /// An ALSA device name, e.g. `default` or `plughw:CARD=Device,DEV=0`.
    case alsa(String)
    /// A click each second, where the camera's test pattern flashes white.
    case testClick

    /// How the accepted spellings are said in an error.
    public static let allowed = "alsa:DEVICE (e.g. alsa:default, alsa:plughw:CARD=Device,DEV=0) or test:click"

    /// The spelling of the configuration and the flag.
    public var description: String {
        switch self {
        case .alsa(let device): return "alsa:\(device)"
        case .testClick: return "test:click"
        }
    }

    /// The input `text` names, or an error naming the setting, the value and what is allowed.
    public static func parse(_ text: String, name: String) throws(RuleError) -> AudioInput {
        if text == "test:click" { return .testClick }
        if text.hasPrefix("alsa:") {
            let device = String(text.dropFirst(5))
            // Printable ASCII without quotes: it goes into a pipeline description.
            if !device.isEmpty, device.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != 34 && $0 != 92 }) { return .alsa(device) }
        }
        throw RuleError(name: name, text: text, allowed: allowed)
    }
}
