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

    /// Whether `user` and `password` match. Blocking (bcrypt): call it off the event loop.
    public func verify(user: String, password: String) -> Bool {
        // The hash is checked first whatever the name, so a wrong name takes as long as a wrong password.
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
