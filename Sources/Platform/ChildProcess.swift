import CShims
#if canImport(Glibc)
import Glibc
#endif

/// A system call that failed while starting a child, with its errno.
public struct ChildProcessError: Error, Sendable, CustomStringConvertible {
    /// errno.
    public let code: Int32
    /// The call (`pipe`, `start`).
    public let call: String
    /// The program.
    public let program: String

    /// `start rclone: No such file or directory`.
    public var description: String { "\(call) \(program): \(String(cString: strerror(code)))" }
}

/// A supervised child (rpicam-vid, a hook): its own process group, default signal handling, stdin from
/// /dev/null, stdout and stderr piped to us (or both into one pipe), and optionally a third pipe as its fd 3.
/// `terminate` ends the whole group and reaps it, so nothing is left behind on any path.
public final class ChildProcess: @unchecked Sendable {
    /// Process id (and process group id).
    public let pid: pid_t
    /// Read end of the child's stdout (with its stderr when merged).
    public let stdout: Int32
    /// Read end of the child's stderr; -1 when merged into `stdout`.
    public let stderr: Int32
    /// Read end of the pipe the child has as fd 3 (`/dev/fd/3` names it to the child); -1 when not asked for.
    public let fd3: Int32
    /// The program, for messages.
    public let program: String
    private var status: Int32?

    /// Starts `arguments[0]` (searched on PATH) with this process's environment plus `environment`; with `pipeFD3`, a
    /// third pipe from the child's fd 3 (rpicam-vid writes its frames' timestamps there).
    public init(_ arguments: [String], environment: [String: String] = [:], mergeErrors: Bool = false,
                pipeFD3: Bool = false) throws(ChildProcessError) {
        program = arguments.first ?? ""
        // Grandchildren the child leaves behind become ours, so `terminate` can reap them (idempotent).
        _ = blackbox_set_child_subreaper()
        var out: [Int32] = [-1, -1], err: [Int32] = [-1, -1], third: [Int32] = [-1, -1]
        guard blackbox_pipe_cloexec(&out) == 0, mergeErrors || blackbox_pipe_cloexec(&err) == 0,
              !pipeFD3 || blackbox_pipe_cloexec(&third) == 0 else {
            let code = errno
            for fd in out + err + third where fd >= 0 { close(fd) }  // a failed pipe() leaves its pair at -1
            throw ChildProcessError(code: code, call: "pipe", program: program)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, out[1], 1)
        posix_spawn_file_actions_adddup2(&actions, mergeErrors ? out[1] : err[1], 2)
        if pipeFD3 { posix_spawn_file_actions_adddup2(&actions, third[1], 3) }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        // Its own process group (so the whole group can be signalled), default handlers (the daemon
        // ignores SIGTERM/SIGINT to handle them itself, which a child would inherit) and no blocked signals.
        var defaults = sigset_t(), empty = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGTERM, SIGINT, SIGPIPE, SIGHUP, SIGQUIT] { sigaddset(&defaults, s) }
        sigemptyset(&empty)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setsigmask(&attr, &empty)
        posix_spawnattr_setpgroup(&attr, 0)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var env: [UnsafeMutablePointer<CChar>?] = []
        var p = environ
        while let entry = p.pointee {
            let text = String(cString: entry)
            let key = text.prefix { $0 != "=" }
            if environment[String(key)] == nil { env.append(strdup(entry)) }
            p += 1
        }
        env += environment.map { strdup("\($0.key)=\($0.value)") }
        env.append(nil)
        defer { for e in env { free(e) } }
        var child: pid_t = 0
        let rc = posix_spawnp(&child, program, &actions, &attr, &argv, &env)
        for fd in [out[1], err[1], third[1]] where fd >= 0 { close(fd) }
        guard rc == 0 else {
            for fd in [out[0], err[0], third[0]] where fd >= 0 { close(fd) }
            throw ChildProcessError(code: rc, call: "start", program: program)
        }
        pid = child
        stdout = out[0]
        stderr = err[0]
        fd3 = third[0]
    }

    /// The raw wait status once the child has ended (reaps it); nil while it runs.
    public func exitStatus() -> Int32? {
        if status == nil {
            var s: Int32 = 0
            if waitpid(pid, &s, WNOHANG) == pid { status = s }
        }
        return status
    }

    /// Exit code when the child exited, nil while it runs or when a signal ended it.
    public var exitCode: Int32? {
        guard let s = exitStatus(), s & 0x7F == 0 else { return nil }
        return (s >> 8) & 0xFF
    }

    /// Why the child ended, if it has (reaps it).
    public func exitDescription() -> String? {
        guard let s = exitStatus() else { return nil }
        let signal = s & 0x7F
        return signal == 0 ? "\(program) exited with status \((s >> 8) & 0xFF)" : "\(program) was killed by signal \(signal)"
    }

    /// SIGTERM to the process group, SIGKILL after `grace` seconds, then reaps the child and every member of its
    /// group. Returns whether it had to be killed.
    @discardableResult
    public func terminate(grace: Double = 2) -> Bool {
        close(stdout)  // a child blocked writing to us gets EPIPE at once
        if fd3 >= 0 { close(fd3) }
        var killed = false
        if exitStatus() == nil {
            kill(-pid, SIGTERM)
            let deadline = MonotonicClock.nanos() + UInt64(grace * 1e9)
            while exitStatus() == nil && MonotonicClock.nanos() < deadline { sleepNanos(5_000_000) }
            if status == nil {
                killed = true
                kill(-pid, SIGKILL)
                var s: Int32 = 0
                while waitpid(pid, &s, 0) == -1 && errno == EINTR {}
                status = s
            }
        }
        // Grandchildren left in the group are killed too, and reaped: this process is their subreaper.
        kill(-pid, SIGKILL)
        let deadline = MonotonicClock.nanos() + 1_000_000_000
        while MonotonicClock.nanos() < deadline {
            var s: Int32 = 0
            let r = waitpid(-pid, &s, WNOHANG)
            if r > 0 { continue }
            if r == -1 && errno == ECHILD { break }  // nothing of the group left
            sleepNanos(2_000_000)
        }
        return killed
    }

    /// Closes our end of stderr (after its reader has seen EOF).
    public func closeOutput() {
        if stderr >= 0 { close(stderr) }
    }
}

/// Sleeps for `nanos`, through signals (EINTR).
public func sleepNanos(_ nanos: UInt64) {
    var ts = timespec(tv_sec: Int(nanos / 1_000_000_000), tv_nsec: Int(nanos % 1_000_000_000))
    var remaining = timespec()
    while nanosleep(&ts, &remaining) == -1 && errno == EINTR { ts = remaining }
}
