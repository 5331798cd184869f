"""V4L2 capture against Linux's vivid virtual camera. Runs inside the VM (tests/vm/run.sh)."""
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "e2e"))
from conftest import BINARY, Daemon  # noqa: E402
from helpers import descriptors_and_video_mappings  # noqa: E402
from mjpeg import MJPEGStream, decode_jpeg  # noqa: E402
from overlay import no_signal_title  # noqa: E402

import pytest  # noqa: E402

DEVICE = "/dev/video0"
LOST_SECONDS = 1.0

if not os.path.exists(DEVICE):
    pytest.fail(f"{DEVICE} is missing: run these tests through tests/vm/run.sh, which loads vivid", pytrace=False)


def ctl(name, value=1):
    subprocess.run(["v4l2-ctl", "-d", DEVICE, "-c", f"{name}={value}"], check=True, timeout=20)


def status(d):
    with urllib.request.urlopen(d.base + "/api/status", timeout=10) as r:
        return json.loads(r.read())["cameras"][0]


def snapshot(d):
    with urllib.request.urlopen(d.base + "/snapshot", timeout=10) as r:
        return decode_jpeg(r.read())


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def arrived(s):
    return s["framesCaptured"] + s["drops"]["noFreeBuffer"] + s["drops"]["deviceErrors"]


def run_cli(*args):
    if args and args[0] == "run":
        args = (*args, "--recordings", os.path.join(tempfile.gettempdir(), "blackbox-vm-recordings"))
    return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("fmt,code", [("yuyv", "YUYV"), ("nv12", "NV12"), ("yuv420", "YU12")])
def test_capture_at_the_set_rate_and_size(fmt, code):
    d = Daemon("--camera", f"front=v4l2:{DEVICE}:640x480@25,{fmt}", "--no-record")
    try:
        wait_for(lambda: status(d)["state"] == "streaming" and status(d)["framesCaptured"] > 5, 20, "frames")
        assert code in status(d)["source"]
        first, t0 = status(d), time.monotonic()
        time.sleep(4)
        last, t1 = status(d), time.monotonic()
        rate = (arrived(last) - arrived(first)) / (t1 - t0)
        assert 22.5 <= rate <= 27.5, f"{fmt}: {rate:.1f} frames/s arrived, set 25"
        image = snapshot(d)
        assert image.size == (640, 480)
    finally:
        assert d.stop() == 0


def holders():
    """(pid, command, descriptor) of every open descriptor on the device: vivid reconnects only when its last one closes."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == DEVICE:
                    found.append((int(pid), pathlib.Path(f"/proc/{pid}/comm").read_text().strip(), int(fd)))
        except OSError:
            pass  # gone meanwhile
    return found


def is_no_signal(image):
    """The NO SIGNAL card itself, read from its title (a black or frozen picture is not it)."""
    return no_signal_title(image) == "NO SIGNAL"


def test_disconnect_shows_no_signal_and_recovers_without_leaking():
    d = Daemon("--camera", f"front=v4l2:{DEVICE}:320x180@30,yuyv", "--no-record")
    pid = d.proc.pid

    try:
        wait_for(lambda: status(d)["state"] == "streaming", 20, "streaming")
        assert not is_no_signal(snapshot(d))
        baseline = None
        for cycle in range(20):
            print(f"cycle {cycle} at {time.monotonic():.2f}", flush=True)
            stream = MJPEGStream(d.base, "/stream")
            stream.next_part()
            # For the diagnosis of a rare miss (CI, once: the daemon saw no disconnect though vivid logged one and its
            # reconnect 3 ms later, which needs every descriptor on the device closed): who held it, and the counts.
            held, before = holders(), status(d)
            ctl("disconnect")
            lost, lost_wall = time.monotonic(), time.time()
            # The live viewer gets the NO SIGNAL card (read from its title). Only pictures captured from the disconnect on
            # are decoded: decoding every 30 fps part in the emulated VM made this reader fall behind the stream.
            while True:
                headers, jpeg = stream.next_part()
                captured = float(headers["x-timestamp"])
                if captured >= lost_wall - 0.5 and is_no_signal(decode_jpeg(jpeg)):
                    break
                if time.monotonic() - lost >= 10:
                    s = status(d)
                    kernel = subprocess.run(["dmesg"], capture_output=True, text=True).stdout.splitlines()
                    raise AssertionError(f"cycle {cycle}: no NO SIGNAL card in 10 s; last part captured {captured - lost_wall:.3f} s "
                                         f"after the disconnect; camera {s['state']}, {s['framesCaptured']} captured, last frame "
                                         f"{s['lastFrameAgeMs']} ms old; reconnects {before['reconnects']} before, {s['reconnects']} now; "
                                         f"drops {before['drops']} before, {s['drops']} now; "
                                         f"device held before by {held}, now by {holders()}; kernel: {[k for k in kernel if 'vivid' in k][-6:]}")
            seen = time.monotonic() - lost
            stream.close()
            print(f"cycle {cycle}: card made {captured - lost_wall:.3f} s, seen {seen:.3f} s after the disconnect", flush=True)
            # The daemon made the card within 1 s of losing the camera (the card's capture time), and this viewer had
            # it within 1 s too, even under emulation (0.15-0.3 s measured here once the reader no longer decodes
            # every picture).
            assert captured - lost_wall < 1.0, f"cycle {cycle}: the card was made {captured - lost_wall:.2f} s after the disconnect"
            assert seen < LOST_SECONDS, f"cycle {cycle}: the card reached the viewer after {seen:.2f} s"
            # The reason is given, naming the device, once per loss.
            reasons = [line for line in d.log().splitlines() if "camera has no signal" in line and "/dev/video0" in line]
            assert len(reasons) >= cycle + 1, reasons
            wait_for(lambda: status(d)["state"] == "streaming", 15, f"recovery in cycle {cycle}")
            wait_for(lambda: not is_no_signal(snapshot(d)), 5, "a camera picture again")
            if baseline is None:
                baseline = descriptors_and_video_mappings(pid)
        # A leak grows; one file the recorder happened to have open at the first count may be closed by now.
        fds, mappings = descriptors_and_video_mappings(pid)
        assert fds <= baseline[0] and mappings == baseline[1], f"fds and mappings {(fds, mappings)} after 20 cycles, {baseline} after the first"
        assert status(d)["reconnects"] >= 20
    except BaseException:
        d.stop()
        print("daemon log:\n" + d.log()[-6000:])
        raise
    finally:
        assert d.stop() == 0


def test_fault_injection_is_handled():
    d = Daemon("--camera", f"front=v4l2:{DEVICE}:320x180@30,yuyv", "--no-record")
    try:
        wait_for(lambda: status(d)["state"] == "streaming", 20, "streaming")
        # A buffer flagged as damaged is skipped; streaming goes on.
        ctl("inject_v4l2_buf_flag_error")
        wait_for(lambda: status(d)["drops"]["deviceErrors"] >= 1, 5, "the damaged buffer to be counted")
        assert status(d)["state"] == "streaming"
        # Frames the device drops show as sequence gaps.
        ctl("percentage_of_dropped_buffers", 50)
        wait_for(lambda: status(d)["drops"]["deviceDropped"] >= 5, 10, "device drops to be counted")
        ctl("percentage_of_dropped_buffers", 0)
        # A fatal streaming error: no signal, then the device is reopened.
        ctl("inject_fatal_streaming_error")
        wait_for(lambda: status(d)["state"] == "no signal", 2, "no signal after a fatal error")
        wait_for(lambda: status(d)["state"] == "streaming", 15, "recovery after a fatal error")
    finally:
        assert d.stop() == 0


def test_streamon_error_is_reported_then_retried():
    ctl("inject_vidioc_streamon_error")
    d = Daemon("--camera", f"front=v4l2:{DEVICE}:320x180@30,yuyv", "--no-record")
    try:
        wait_for(lambda: status(d)["state"] == "streaming", 15, "streaming after the retry")
        assert status(d)["reconnects"] >= 1
    finally:
        assert d.stop() == 0
    log = d.log()
    assert "VIDIOC_STREAMON" in log and "no signal" in log


def test_second_daemon_on_the_same_device_is_told_it_is_busy():
    d = Daemon("--camera", f"front=v4l2:{DEVICE}:320x180@30,yuyv", "--no-record")
    try:
        wait_for(lambda: status(d)["state"] == "streaming", 20, "streaming")
        r = run_cli("run", "--port", "0", "--no-record", "--camera", f"front=v4l2:{DEVICE}:320x180@30,yuyv")
        assert r.returncode == 2
        assert f"device busy: {DEVICE} is held by PID {d.proc.pid} (blackbox)" in r.stderr
    finally:
        assert d.stop() == 0


def test_unsupported_requests_name_what_the_device_offers():
    r = run_cli("run", "--port", "0", "--no-record", "--camera", f"front=v4l2:{DEVICE}:1000x500@30")
    assert r.returncode == 2
    assert "does not offer 1000x500@30" in r.stderr and "YUYV 320x180@60/50" in r.stderr
    r = run_cli("run", "--port", "0", "--no-record", "--camera", f"front=v4l2:{DEVICE}:640x480@25,h264")
    assert r.returncode == 2 and "needs a hardware video encoder and this machine has none" in r.stderr and "mjpeg" in r.stderr
    # With the fallback, H.264 becomes the best format the camera has (vivid has no MJPEG).
    d = Daemon("--camera", f"front=v4l2:{DEVICE}:320x180@30,h264", "--h264-fallback", "--no-record")
    try:
        wait_for(lambda: status(d)["state"] == "streaming", 20, "streaming")
    finally:
        assert d.stop() == 0
    assert "H.264 asked for" in d.log()


def test_devices_lists_vivid():
    r = run_cli("devices")
    assert r.returncode == 0
    assert f"{DEVICE}: vivid" in r.stdout and "YUYV" in r.stdout and "640x480 @ 25" in r.stdout


def rates_at(width, height):
    """Whole frame rates the device lists at a size (from v4l2-ctl, not from blackbox)."""
    out = subprocess.run(["v4l2-ctl", "-d", DEVICE, "--list-formats-ext"], capture_output=True, text=True, timeout=20).stdout
    rates, here = set(), False
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Size:"):
            here = line.endswith(f"{width}x{height}")
        elif here and line.startswith("Interval:") and "fps" in line:
            rates.add(int(float(line.split("(")[1].split()[0]) + 0.5))  # whole fps, halves up (12.5 -> 13)
    return rates


def test_without_a_size_the_camera_runs_at_its_best_mode_and_says_which():
    # vivid's webcam offers 1280x720 only at low rates, not the default 1280x720@30.
    best = max(r for r in rates_at(1280, 720) if r <= 30)
    assert best < 30
    d = Daemon("--camera", f"front=v4l2:{DEVICE}", "--no-record")
    try:
        s = status(d)
        assert (s["width"], s["height"], s["configuredFps"]) == (1280, 720, best), s
        wait_for(lambda: status(d)["framesCaptured"] > 5, 30, "frames")
        assert snapshot(d).size == (1280, 720)
    finally:
        d.stop()
    assert f"best mode 1280x720@{best}" in d.log()
    # An explicit size the camera lacks still fails, naming what it offers.
    r = run_cli("run", "--camera", f"front=v4l2:{DEVICE}:1280x720@30", "--no-record", "--port", "0")
    assert r.returncode == 2 and "it offers" in r.stderr
