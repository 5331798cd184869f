import HummingbirdBcrypt

/// The one account that may control the daemon: a user name and a bcrypt hash of its password.
public struct Credentials: Sendable, Equatable {
    /// User name (default `admin`).
    public var user: String
    /// bcrypt hash (`$2b$…`) of the password; the password itself is never stored.
    public var passwordHash: String

    /// bcrypt cost: about 0.1 s per check on a Pi 5, and a verified Basic header is cached, so
    /// streaming clients do not pay it per request.
    public static let cost: UInt8 = 11

    /// Creates credentials from a stored hash.
    public init(user: String, passwordHash: String) {
        self.user = user
        self.passwordHash = passwordHash
    }

    /// Credentials for `password`, hashed now.
    public init(user: String, password: String) {
        self.init(user: user, passwordHash: Bcrypt.hash(password, cost: Self.cost))
    }

    /// Whether `hash` looks like a bcrypt hash this daemon can check.
    public static func isHash(_ hash: String) -> Bool {
        let parts = hash.split(separator: "$", omittingEmptySubsequences: false)
        return hash.utf8.count == 60 && parts.count == 4 && ["2a", "2b", "2y"].contains(parts[1]) && Int(parts[2]) != nil
    }

    /// A user name the login form and Basic auth can carry: 1-64 printable characters without `:`.
    public static func isValidUser(_ user: String) -> Bool {
        (1...64).contains(user.count) && user.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value != 0x7F && $0 != ":" }
    }

    /// Whether `user` and `password` match. Blocking (bcrypt): call it off the event loop.
    public func verify(user: String, password: String) -> Bool {
        let passwordOK = Bcrypt.verify(password, hash: passwordHash)
        return passwordOK && user == self.user
    }

    /// A new random password: 16 characters from an alphabet without look-alikes (about 89 bits).
    public static func generatePassword() -> String {
        let alphabet = Array("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        var rng = SystemRandomNumberGenerator()
        return String((0..<16).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] })
    }
}
