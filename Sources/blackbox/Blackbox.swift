import ArgumentParser
import Serving

/// The `blackbox` command: a camera blackbox (dashcam / CCTV recorder) daemon and its tools.
struct Blackbox: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blackbox",
        abstract: "Camera blackbox for Raspberry Pi 5 and any Linux: capture, record, serve live MJPEG.",
        discussion: """
            With no subcommand, 'blackbox' runs the daemon. With no camera configured it uses a \
            built-in test pattern, so everything can be tried on any machine:

              blackbox run --port 8080
              blackbox run --camera front=testpattern:1280x720@30 --camera rear=testpattern:640x480@15

            Then open http://localhost:8080/ in a browser.
            """,
        version: BlackboxVersion.string,
        subcommands: [Run.self, Devices.self, Snapshot.self, Doctor.self, Recordings.self, Key.self, InstallService.self, Bench.self, Passwd.self],
        defaultSubcommand: Run.self
    )
}
