import ArgumentParser
import Foundation

/// `blackbox install-service`: a systemd unit with watchdog and hardening.
struct InstallService: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install-service",
        abstract: "Write a systemd unit for the daemon (Type=notify, watchdog, restart, hardening) and print how to enable it.")

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

    func run() throws {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "/usr/local/bin/blackbox"
        let text = unit(executable: executable)
        if print {
            Swift.print(text, terminator: "")
            return
        }
        do {
            try text.write(toFile: unitPath, atomically: true, encoding: .utf8)
        } catch {
            throw StartupError("cannot write \(unitPath): \(error.localizedDescription) (run as root, or use --print)")
        }
        Swift.print("""
            Wrote \(unitPath). Then, as root:
              useradd --system --no-create-home --groups video \(user)     # once, if the account does not exist
              install -d -o \(user) -g \(user) \(root)
              systemctl daemon-reload
              systemctl enable --now blackbox
              journalctl -u blackbox -f                                   # its log
            """)
    }
}
