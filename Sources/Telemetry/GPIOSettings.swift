import Rules

/// A GPIO line as `CHIP:LINE`: the chip by its label (`pinctrl-rp1` on a Pi 5's header, `cp2112_gpio`), its name
/// (`gpiochip4`) or number, the line by its name (`GPIO17`) or offset, so that a kernel that numbers chips anew changes nothing.
public struct GPIOLineSpec: Sendable, Equatable, CustomStringConvertible {
    /// The chip: a label, `gpiochipN` or `N`.
    public var chip: String
    /// The line: a name or an offset.
    public var line: String

    /// How a line is written.
    public static let allowed = "CHIP:LINE, the chip by label (e.g. pinctrl-rp1), gpiochipN or N, the line by name (e.g. GPIO17) or offset"

    /// The line `text` says, or an error naming `name` and what is allowed.
    public init(parsing text: String, name: String) throws(RuleError) {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let printable = { (s: String) in !s.isEmpty && s.count <= 31 && s.unicodeScalars.allSatisfy { $0.isASCII && $0.value > 0x20 && $0.value < 0x7F } }
        guard parts.count == 2, printable(parts[0]), printable(parts[1]), !parts[0].contains("/") else {
            throw RuleError(name: name, text: text, problem: "is not a GPIO line", allowed: Self.allowed)
        }
        chip = parts[0]
        line = parts[1]
    }

    /// `CHIP:LINE`.
    public var description: String { "\(chip):\(line)" }
}

/// Whether the kernel sets a line's pull resistor, and which way (`[gpio] bias`).
public enum GPIOBias: String, Sendable, CaseIterable {
    /// As the line is (a resistor on the board, or the device tree's choice).
    case asIs = "as-is"
    case pullUp = "pull-up"
    case pullDown = "pull-down"
    case disabled
}

extension GPIOBias: NamedChoice {}

/// `[gpio]`: the ignition (ACC) line that says whether the car is parked and a button that saves an event clip, both read
/// through the kernel's GPIO character device. Off unless a line is configured.
public struct GPIOSettings: Sendable, Equatable {
    /// The ignition line: active while the engine runs; inactive means parked.
    public var ignition: GPIOLineSpec?
    /// The save button: a press saves a protected manual clip.
    public var button: GPIOLineSpec?
    /// Whether the lines are active low (a button to ground, an optocoupler pulling down).
    public var activeLow = false
    /// The pull resistor asked of the kernel.
    public var bias = GPIOBias.asIs
    /// How long a line must hold a new level before it counts, ms (contacts bounce).
    public var debounceMs = 30
    /// While parked, keep recording continuously as a time-lapse of this many frames a second (nil: motion and impact
    /// clips only).
    public var parkingTimelapse: Double?
    /// After this long parked, ask the system to power off (nil: never), seconds.
    public var parkingShutdownAfter: Double?
    /// The command that powers off.
    public var shutdownCommand = ["systemctl", "poweroff"]

    /// The debounce periods allowed.
    public static let debounceRule = RangeRule<Int>(1...2000, allowed: "1 to 2000 ms")
    /// The time-lapse rates allowed: a frame is a keyframe, and keyframes come once a fragment (a second by default).
    public static let timelapseRule = RangeRule<Double>(0.01...1, allowed: "0.01 to 1 frames a second")
    /// The shutdown delays allowed.
    public static let shutdownRule = RangeRule<Double>(1...(30 * 86_400), allowed: "1s to 30d, e.g. \"12h\", \"90m\"")

    /// No lines.
    public init() {}

    /// Whether any line is configured.
    public var isEmpty: Bool { ignition == nil && button == nil }

    /// Seconds for `text` (`45s`, `90m`, `12h`, `2d`), or an error naming `name` and what is allowed.
    public static func duration(_ text: String, name: String) throws(RuleError) -> Double {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        guard let unit = text.last, let scale = units[unit], let n = Double(text.dropLast()), n.isFinite,
              shutdownRule.contains(n * scale) else {
            throw RuleError(name: name, text: text, problem: "is not a duration allowed", allowed: shutdownRule.allowed)
        }
        return n * scale
    }
}
