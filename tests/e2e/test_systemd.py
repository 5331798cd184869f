"""sd_notify over a real datagram socket, and the generated systemd unit."""
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from conftest import BINARY


@pytest.fixture
def notify_socket(tmp_path):
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.2)
    yield path, sock
    sock.close()


def messages(sock, seconds):
    """Every datagram received for `seconds`, with its arrival time."""
    out, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            out.append((time.monotonic(), sock.recv(4096).decode()))
        except socket.timeout:
            pass
    return out


def test_ready_watchdog_and_stopping(start_daemon, notify_socket):
    path, sock = notify_socket
    d = start_daemon("--camera", "front=testpattern:320x240@30", "--no-record",
                     env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"})
    got = messages(sock, 3)
    texts = [m for _, m in got]
    assert any("READY=1" in m for m in texts)
    assert sum("WATCHDOG=1" in m for m in texts) >= 3  # every half interval
    assert any(m.startswith("STATUS=front 30") or m.startswith("STATUS=front 29") for m in texts)
    d.proc.send_signal(signal.SIGTERM)
    assert any("STOPPING=1" in m for _, m in messages(sock, 2))
    assert d.proc.wait(5) == 0


class Listener:
    """A notify socket of its own for one daemon, read on a thread: every datagram with its arrival time."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.got = []
        self.running = True
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while self.running:
            try:
                self.got.append((time.monotonic(), self.sock.recv(4096).decode()))
            except socket.timeout:
                pass

    def close(self):
        self.running = False
        self.thread.join()
        self.sock.close()

    def pings(self):
        return [t for t, m in self.got if "WATCHDOG=1" in m]


def run_side_by_side(start_daemon, tmp_path, setups, seconds, watchdog_usec):
    """Starts a daemon per (name, args, env) under its own notify socket with WATCHDOG_USEC, lets them run for
    `seconds` and returns {name: (daemon, listener)}."""
    running = {}
    for name, args, env in setups:
        listener = Listener(str(tmp_path / f"notify-{name}"))
        d = start_daemon(*args, env={"NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": str(watchdog_usec), **env})
        running[name] = (d, listener)
    time.sleep(seconds)
    for d, listener in running.values():
        listener.close()
    return running


MODES = ["continuous", "motion", "off"]
CODECS = ["h264", "mjpeg"]


def test_watchdog_pings_every_five_seconds_for_a_minute_with_the_unit_s_interval(start_daemon, tmp_path):
    """WatchdogSec=10, as the shipped unit: the default camera, nobody watching, each codec (H.264 is the default:
    no flag) in each mode. A ping every 5 s for a minute, from each; no stall in any log."""
    setups = [(f"{codec}-{mode}", (["--codec", "mjpeg"] if codec == "mjpeg" else []) + ["--record-mode", mode], {})
              for codec in CODECS for mode in MODES]
    running = run_side_by_side(start_daemon, tmp_path, setups, 62, 10_000_000)
    for name, (d, listener) in running.items():
        pings = listener.pings()
        ready = next(t for t, m in listener.got if "READY=1" in m)
        assert len(pings) >= 11, f"{name}: {len(pings)} pings in a minute"
        gaps = [b - a for a, b in zip([ready, *pings], pings)]
        assert max(gaps) < 6.0, f"{name}: a gap of {max(gaps):.1f} s between pings (5 s expected)"
        assert d.stop() == 0
        log = d.log()
        assert "pipeline stalled" not in log, f"{name}: {log}"


def test_watchdog_pings_at_a_one_second_interval_with_long_fragments(start_daemon, tmp_path):
    """WatchdogSec=1 (a check every 0.5 s) with 1 s and 6 s fragments: each codec, each mode, nobody watching."""
    setups = [(f"{codec}-{mode}-{fragment}s",
               (["--codec", "mjpeg"] if codec == "mjpeg" else []) +
               ["--camera", "front=testpattern:320x240@15", "--record-mode", mode, "--fragment-seconds", str(fragment),
                "--segment-seconds", "12"], {})
              for codec in CODECS for mode in MODES for fragment in (1, 6)]
    running = run_side_by_side(start_daemon, tmp_path, setups, 10, 1_000_000)
    for name, (d, listener) in running.items():
        pings = listener.pings()
        ready = next(t for t, m in listener.got if "READY=1" in m)
        gaps = [b - a for a, b in zip([ready, *pings], pings)]
        assert len(pings) >= 12, f"{name}: {len(pings)} pings in 10 s"
        assert max(gaps) < 0.9, f"{name}: a gap of {max(gaps):.2f} s between pings (0.5 s expected)"
        assert d.stop() == 0
        assert "pipeline stalled" not in d.log(), name


# Each stage of the pipeline, hung by fault injection (the real parts cannot be made to hang on demand), with the
# settings under which it has work: the JPEG encoders work for MJPEG recording (with H.264 they idle unless someone
# watches), the others with the defaults.
STALLS = {
    "capture": [],
    "h264": [],
    "jpeg": ["--codec", "mjpeg"],
    "motion": ["--record-mode", "motion"],
    "recorder": [],
}
STAGE_NAMES = {"capture": "front capture", "h264": "front h264 encoder", "jpeg": "front jpeg encoder",
               "motion": "front motion detector", "recorder": "front recorder"}


def test_watchdog_pings_stop_when_any_stage_stalls(start_daemon, tmp_path):
    setups = [(stage, ["--camera", "front=testpattern:320x240@15", *args], {"BLACKBOX_FAULT_INJECT": f"stall-{stage}-after=2"})
              for stage, args in STALLS.items()]
    running = run_side_by_side(start_daemon, tmp_path, setups, 9, 1_000_000)
    for stage, (d, listener) in running.items():
        pings = listener.pings()
        assert pings, f"{stage}: no pings while the pipeline ran"
        # Stalled at ~2 s after start; a stage may stand still for 3 s before it counts as stalled, checks are every 0.5 s.
        assert listener.got[-1][0] - pings[-1] > 2.5, f"{stage}: pings went on after the stall"
        assert d.proc.poll() is None, f"{stage}: the daemon ended by itself"
        assert d.stop() == 0
        log = d.log()
        assert "pipeline stalled" in log and STAGE_NAMES[stage] in log, f"{stage}: {log}"
        for other in STAGE_NAMES.values():
            if other != STAGE_NAMES[stage]:
                assert f"{other} (" not in log, f"{stage}: {other} was also called stalled: {log}"


def test_idle_jpeg_encoders_are_no_stall_until_a_viewer_gives_them_work(start_daemon, tmp_path):
    """With H.264 recording nobody wants JPEGs: the JPEG encoders idle, and even hung (fault injection) they are no
    stall. A snapshot gives them a frame; then the hung encoder is one, and the pings stop."""
    listener = Listener(str(tmp_path / "notify"))
    try:
        d = start_daemon("--camera", "front=testpattern:320x240@15",
                         env={"NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "1000000", "BLACKBOX_FAULT_INJECT": "stall-jpeg-after=0"})
        time.sleep(5)
        assert len(listener.pings()) >= 7, listener.got
        asked = time.monotonic()
        try:
            urllib.request.urlopen(d.base + "/snapshot", timeout=1).read()
        except (urllib.error.URLError, TimeoutError, OSError):
            pass  # no JPEG comes from a hung encoder
        time.sleep(6)
        pings = listener.pings()
        assert pings[-1] < asked + 4.5, f"pings went on with a frame stuck in the JPEG encoder: {[round(p - asked, 1) for p in pings]}"
    finally:
        listener.close()
    assert d.stop() == 0
    log = d.log()
    assert "pipeline stalled" in log and "front jpeg encoder (" in log, log


def test_generated_unit(tmp_path):
    r = subprocess.run([BINARY, "install-service", "--print", "--user", "root", "--recordings", "/var/lib/blackbox/recordings"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    unit = r.stdout
    for line in ["Type=notify", "WatchdogSec=", "Restart=always", "SupplementaryGroups=video",
                 "ReadWritePaths=/var/lib/blackbox/recordings", "NoNewPrivileges=yes", "ProtectSystem=strict"]:
        assert line in unit, line
    # systemd's own check of the unit (scripts/setup.sh installs systemd-analyze).
    path = tmp_path / "blackbox.service"
    path.write_text(unit.replace(unit.split("ExecStart=")[1].split()[0], BINARY))
    v = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60)
    assert v.returncode == 0, v.stderr
