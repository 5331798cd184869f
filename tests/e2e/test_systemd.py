"""sd_notify over a real datagram socket, and the generated systemd unit."""
import shutil
import signal
import socket
import subprocess
import time

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


def test_watchdog_pings_stop_when_capture_stalls(start_daemon, notify_socket):
    path, sock = notify_socket
    d = start_daemon("--camera", "front=testpattern:320x240@30", "--no-record",
                     env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000", "BLACKBOX_FAULT_INJECT": "stall-capture-after=3"})
    got = messages(sock, 6)
    started = got[0][0]
    pings = [t - started for t, m in got if "WATCHDOG=1" in m]
    assert any(t < 2.5 for t in pings), "no pings while capture ran"
    assert not any(t > 4.0 for t in pings), f"pings went on after capture stalled: {pings}"
    assert d.stop() == 0
    assert "pipeline stalled" in d.proc.stderr.read()


def test_generated_unit(tmp_path):
    r = subprocess.run([BINARY, "install-service", "--print", "--user", "root", "--recordings", "/var/lib/blackbox/recordings"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    unit = r.stdout
    for line in ["Type=notify", "WatchdogSec=", "Restart=always", "SupplementaryGroups=video",
                 "ReadWritePaths=/var/lib/blackbox/recordings", "NoNewPrivileges=yes", "ProtectSystem=strict"]:
        assert line in unit, line
    if shutil.which("systemd-analyze"):
        path = tmp_path / "blackbox.service"
        path.write_text(unit.replace(unit.split("ExecStart=")[1].split()[0], BINARY))
        v = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60)
        assert v.returncode == 0, v.stderr
