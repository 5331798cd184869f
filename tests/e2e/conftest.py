"""Starts the built `blackbox` binary on a free port, as a user would, and stops it afterwards.

Every daemon generates its password on first run and prints it once; `Daemon` reads it from that
line and the urllib opener installed here sends it as HTTP Basic to that daemon's port, so tests
that are not about authentication talk to the API as a logged-in script would."""
import base64
import os
import pathlib
import select
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = os.environ.get("BLACKBOX_BIN", str(ROOT / ".build" / "debug" / "blackbox"))

# The slowest files, slowest first (seconds of tests per file, `pytest --durations=0`: 186, 139, 136, 135, 127, 102, ...).
# `make test` hands each worker whole files in the order collected (--dist loadfile --no-loadscope-reorder): these start
# first, so that no long file starts last while the other workers have nothing left to do. Other files follow as found.
SLOWEST_FILES = ["test_motion.py", "test_recording.py", "test_systemd.py", "test_sound.py", "test_network_attack.py",
                 "test_timeline.py", "test_rtsp.py", "test_rtsp_hosts.py", "test_product_defaults.py", "test_gps.py",
                 "test_ui.py"]


def pytest_collection_modifyitems(config, items):
    """Puts the tests of the slowest files first, keeping the order of the tests within each file."""
    rank = {name: i for i, name in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOWEST_FILES)))


# Passwords by recordings folder (a restarted daemon keeps its first password), and Basic headers by port.
PASSWORDS = {}
AUTH = {}


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class _DaemonAuth(urllib.request.BaseHandler):
    """Adds the credentials of the daemon a request goes to, unless the request brings its own."""

    def http_request(self, req):
        port = urllib.parse.urlsplit(req.full_url).port
        if port in AUTH and not req.has_header("Authorization") and not req.has_header("X-no-auth"):
            req.add_unredirected_header("Authorization", AUTH[port])
        return req


urllib.request.install_opener(urllib.request.build_opener(_DaemonAuth()))


class Daemon:
    """A running `blackbox run` process, the port it bound and its password."""

    def __init__(self, *args, recordings=None, env=None, timeout=None, preexec_fn=None, wrapper=(), host="127.0.0.1"):
        if recordings is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="blackbox-e2e-")
            recordings = self._tmp.name
        self.recordings = pathlib.Path(recordings)
        # The product's defaults (H.264 recording, JPEGs only for viewers) unless a test asks for something else:
        # a test that needs Motion JPEG recordings says `--codec mjpeg` itself.
        if timeout is None:
            # Under software emulation (tests/vm) a start takes several times as long: run.sh sets the deadline there.
            timeout = float(os.environ.get("BLACKBOX_START_SECONDS", "20"))
        # RTSP on a free port unless the test chooses (several daemons run at once).
        rtsp = [] if any(a.startswith("--rtsp-port") or a == "--no-rtsp" for a in args) else ["--rtsp-port", "0"]
        self.args = [*wrapper, BINARY, "run", "--host", host, "--port", "0", "--recordings", str(recordings), *rtsp, *args]
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=None if env is None else {**os.environ, **env}, preexec_fn=preexec_fn)
        self.port = None
        self.rtsp_port = None
        self.password = PASSWORDS.get(str(self.recordings))
        deadline = time.monotonic() + timeout
        line = ""
        # The start lines are read from the descriptor itself: a buffered readline after select may take two lines
        # into its buffer and return one, and select then never says the other is there (seen in CI: "serving rtsp"
        # read, "serving http" waited for 20 s in the buffer).
        fd, pending, lines = self.proc.stdout.fileno(), b"", []
        while time.monotonic() < deadline and self.port is None:
            if not lines:
                ready, _, _ = select.select([fd], [], [], 0.2)
                if ready:
                    chunk = os.read(fd, 65536)
                    pending += chunk
                    *complete, pending = pending.split(b"\n")
                    lines += [c.decode(errors="replace") + "\n" for c in complete]
                    if not chunk and pending:
                        lines, pending = [pending.decode(errors="replace")], b""
            if lines:
                line = lines.pop(0)
                if "generated password for user 'admin': " in line:
                    self.password = line.split("'admin': ", 1)[1].split()[0]
                    PASSWORDS[str(self.recordings)] = self.password
                if "serving rtsp://" in line:
                    self.rtsp_port = int(line.split("rtsp://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
                if "serving http://" in line:
                    self.port = int(line.split("http://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
            if not lines and self.proc.poll() is not None:
                break
        # The daemon's output is read all along: a pipe nobody reads fills at 64 KiB and then blocks the thread that logs.
        self._stdout, self._stderr = [*lines, *([pending.decode(errors="replace")] if pending else [])], []
        self._drains = [threading.Thread(target=self._drain, args=(stream, into), daemon=True)
                        for stream, into in ((self.proc.stdout, self._stdout), (self.proc.stderr, self._stderr))]
        for t in self._drains:
            t.start()
        if self.port is None:
            self.stop()
            raise RuntimeError(f"blackbox did not start: {line!r} {self.log()!r}")
        if self.password is not None:
            AUTH[self.port] = self.auth

    @staticmethod
    def _drain(stream, into):
        for line in stream:
            into.append(line)

    def log(self):
        """What the daemon wrote to stderr so far (all of it once it has stopped)."""
        if self.proc.poll() is not None:
            for t in self._drains:
                t.join(10)
        return "".join(self._stderr)

    def output(self):
        """What the daemon wrote to stdout so far after its start lines (all of it once it has stopped)."""
        self.log()
        return "".join(self._stdout)

    @property
    def auth(self):
        """The `Authorization` header value for this daemon."""
        return basic("admin", self.password)

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def terminate_timed(self, timeout=10):
        """Sends SIGTERM and returns (exit code, seconds until the kernel reported the exit): the wait is on a pidfd,
        which wakes the moment the process ends, so the figure is the daemon's time to stop, not this test's polling."""
        fd = os.pidfd_open(self.proc.pid)
        try:
            started = time.monotonic()
            self.proc.send_signal(signal.SIGTERM)
            ready, _, _ = select.select([fd], [], [], timeout)
            took = time.monotonic() - started
        finally:
            os.close(fd)
        if not ready:
            self.proc.kill()
        return self.proc.wait(), took

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.print_stacks(f"did not stop {timeout} s after signal {sig}")
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def print_stacks(self, why):
        """Prints every thread's state and stacks, so that a hang seen once says where it was: the kernel's view first
        (state, wait channel, kernel stack where readable: a thread stuck in a driver stops gdb too), then gdb's."""
        pid = self.proc.pid
        lines = []
        for task in sorted(pathlib.Path(f"/proc/{pid}/task").iterdir(), key=lambda p: int(p.name)):
            def read(name):
                try:
                    return (task / name).read_text().strip()
                except OSError:
                    return "?"
            stat = read("stat")
            state = stat.rsplit(")", 1)[1].split()[0] if ")" in stat else "?"
            lines.append(f"task {task.name} {read('comm')} state {state} wchan {read('wchan')}")
            lines += ["    " + k for k in read("stack").splitlines() if state == "D"]
        try:
            dump = subprocess.run(["gdb", "-batch", "-nx", "-ex", "thread apply all bt 30", "-p", str(pid)],
                                  capture_output=True, text=True, timeout=60).stdout
        except (OSError, subprocess.TimeoutExpired) as e:
            dump = f"(no stacks from gdb: {e})"
        print(f"daemon {pid} {why}; its threads:\n" + "\n".join(lines) + "\n" + "\n".join(
            line for line in dump.splitlines() if line.startswith(("Thread ", "#", "(no"))), flush=True)


@pytest.fixture(scope="module")
def daemon():
    d = Daemon("--camera", "front=testpattern:640x360@30", "--camera", "rear=testpattern:320x240@30")
    yield d
    assert d.stop() == 0


@pytest.fixture
def start_daemon():
    started = []

    def start(*args, **kwargs):
        d = Daemon(*args, **kwargs)
        started.append(d)
        return d

    yield start
    # Stopped as systemd stops it; a crash or a hang at shutdown fails the test. A daemon the test stopped (or
    # killed on purpose) is left as it is.
    running = [d for d in started if d.proc.poll() is None]
    codes = [d.stop() for d in running]
    assert codes == [0] * len(running), f"exit codes at SIGTERM: {codes}"
