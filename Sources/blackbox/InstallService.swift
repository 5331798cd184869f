import ArgumentParser
import Foundation

/// `blackbox install-service`: a systemd unit with watchdog and hardening.
struct InstallService: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install-service",
        abstract: "Install the daemon as a systemd service: binary, account (video group), recordings folder, configuration, unit; then enable and start it.",
        discussion: "Run as root. Steps already done are skipped, so it can run again after an update. --print shows the unit and every step instead.")

    @Flag(help: "Print the unit instead of writing it.")
    var print = false

    @Option(help: "Account the daemon runs as (it needs the video group for cameras).")
    var user = "blackbox"

    @Option(help: ArgumentHelp("Configuration file the service reads.", valueName: "path"))
    var config = "/etc/blackbox/blackbox.toml"

    @Option(name: .customLong("recordings"), help: ArgumentHelp("Recordings folder: the only place it may write.", valueName: "dir"))
    var root = "/var/lib/blackbox/recordings"

    @Option(help: "Seconds without a watchdog ping before systemd restarts the daemon.")
    var watchdogSeconds = 10

    @Option(help: ArgumentHelp("Where to write the unit.", valueName: "path"))
    var unitPath = "/etc/systemd/system/blackbox.service"

    func validate() throws {
        guard (2...600).contains(watchdogSeconds) else { throw ValidationError("--watchdog-seconds \(watchdogSeconds) is out of range; allowed: 2 to 600") }
        guard root.hasPrefix("/"), config.hasPrefix("/") else { throw ValidationError("--recordings and --config must be absolute paths") }
    }

    /// The unit text.
    func unit(executable: String) -> String {
        """
        [Unit]
        Description=Blackbox camera recorder (dashcam / CCTV)
        After=local-fs.target network.target

        [Service]
        Type=notify
        NotifyAccess=main
        ExecStart=\(executable) run --config \(config) --recordings \(root)
        LimitNOFILE=65536
        WatchdogSec=\(watchdogSeconds)
        Restart=always
        RestartSec=2
        TimeoutStopSec=5
        User=\(user)
        Group=\(user)
        SupplementaryGroups=video
        ReadWritePaths=\(root)
        NoNewPrivileges=yes
        ProtectSystem=strict
        ProtectHome=yes
        PrivateTmp=yes
        ProtectKernelTunables=yes
        ProtectKernelModules=yes
        ProtectKernelLogs=yes
        ProtectControlGroups=yes
        ProtectClock=yes
        ProtectHostname=yes
        RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
        RestrictNamespaces=yes
        RestrictRealtime=yes
        RestrictSUIDSGID=yes
        LockPersonality=yes
        SystemCallArchitectures=native
        CapabilityBoundingSet=
        UMask=0027

        [Install]
        WantedBy=multi-user.target

        """
    }

    /// Where the binary is installed (the unit runs it from there, never from a build tree).
    @Option(help: ArgumentHelp("Where to install the binary the service runs.", valueName: "path"))
    var binary = "/usr/local/bin/blackbox"

    @Flag(help: "Install and enable, but do not start the service now.")
    var noStart = false

    /// One step of the installation, as a shell command a person could run instead.
    struct Step {
        let what: String
        let command: [String]
        /// Skip when this is true (already done).
        var done: Bool = false
    }

    /// Every step, in order, for a machine in its present state.
    func steps(executable: String) -> [Step] {
        let fm = FileManager.default
        let userExists = (try? String(contentsOfFile: "/etc/passwd", encoding: .utf8))?.split(separator: "\n")
            .contains { $0.hasPrefix("\(user):") } ?? false
        let configDir = (config as NSString).deletingLastPathComponent
        return [
            Step(what: "install the binary", command: ["install", "-D", "-m", "0755", executable, binary], done: executable == binary),
            Step(what: "create the service account", command: ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", user],
                 done: userExists),
            Step(what: "let it use cameras (video group)", command: ["usermod", "--append", "--groups", "video", user], done: user == "root"),
            Step(what: "create the recordings folder", command: ["install", "-d", "-m", "0750", "-o", user, "-g", user, root]),
            Step(what: "create the configuration folder", command: ["install", "-d", "-m", "0755", configDir], done: fm.fileExists(atPath: configDir)),
            Step(what: "write the configuration from the example (only when there is none)", command: ["write", config], done: fm.fileExists(atPath: config)),
            Step(what: "write the unit", command: ["write", unitPath]),
            Step(what: "reload systemd", command: ["systemctl", "daemon-reload"]),
            Step(what: noStart ? "enable the service" : "enable and start the service",
                 command: ["systemctl", "enable"] + (noStart ? [] : ["--now"]) + ["blackbox"]),
        ]
    }

    /// The example configuration with the recordings folder this installation uses.
    var configText: String {
        String(decoding: PackageResources.blackbox_example_toml, as: UTF8.self)
            .replacingOccurrences(of: "root = \"/var/lib/blackbox/recordings\"", with: "root = \"\(root)\"")
    }

    func run() throws {
        let found = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? binary
        let text = unit(executable: binary)
        let plan = steps(executable: found)
        if print {
            Swift.print(text, terminator: "")
            Swift.print("\n# To install by hand, as root:")
            for step in plan {
                let shown = step.command.first == "write" ? "blackbox install-service   # writes \(step.command[1])" : step.command.joined(separator: " ")
                Swift.print("#   \(shown)\(step.done ? "    (already done)" : "")")
            }
            return
        }
        guard geteuid() == 0 else {
            throw StartupError("installing a service needs root: run 'sudo \(found) install-service', or '--print' to see every step")
        }
        for step in plan where !step.done {
            Swift.print("- \(step.what)")
            if step.command.first == "write" {
                let path = step.command[1]
                do {
                    try (path == unitPath ? text : configText).write(toFile: path, atomically: true, encoding: .utf8)
                } catch {
                    throw StartupError("cannot write \(path): \(error.localizedDescription)")
                }
                continue
            }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = step.command
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw StartupError("'\(step.command.joined(separator: " "))' failed (exit \(process.terminationStatus)); fix that and run install-service again")
            }
        }
        Swift.print("""
            Installed. The service runs \(binary) as \(user), records into \(root), reads \(config).
              systemctl status blackbox     # is it running
              journalctl -u blackbox -f     # its log (the first start prints the generated password there)
            """)
    }
}
