import ArgumentParser
import Foundation

// Custom entry point: argument-parser exits 64 on usage errors; this daemon promises exit code 2
// and a one-line message for every bad flag, bad value or unusable port.
func runAsync<C: AsyncParsableCommand>(_ command: inout C) async throws {
    try await command.run()
}

do {
    var command = try Blackbox.parseAsRoot()
    if var asyncCommand = command as? any AsyncParsableCommand {
        try await runAsync(&asyncCommand)
    } else {
        try command.run()
    }
    exit(0)
} catch let code as ExitCode {
    exit(code.rawValue)
} catch let error as StartupError {
    FileHandle.standardError.write(Data("blackbox: \(error.message)\n".utf8))
    exit(2)
} catch {
    if Blackbox.exitCode(for: error) == .success {
        print(Blackbox.fullMessage(for: error))
        exit(0)
    }
    let message = Blackbox.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
    FileHandle.standardError.write(Data("blackbox: \(message) (see 'blackbox --help')\n".utf8))
    exit(2)
}
