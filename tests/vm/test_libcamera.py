"""libcamera:N against a camera libcamera really drives: Linux's vimc (a sensor, debayer and scaler behind a media
controller, built by tests/vm/run.sh from Debian's kernel source) through libcamera's vimc pipeline handler, with
libcamera's own `cam` as the other program that wants the camera. Runs inside the VM (tests/vm/run.sh)."""
import pathlib
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "e2e"))
from conftest import BINARY, Daemon  # noqa: E402
from helpers import camera_status as status, post, wait_for  # noqa: E402
from mjpeg import decode_jpeg  # noqa: E402

import pytest  # noqa: E402
from PIL import ImageStat  # noqa: E402

# vimc's scaler makes widths and heights that divide by 3 (640 would come out as 636); 10 fps is what it keeps up
# with under software emulation.
SPEC = "front=libcamera:0:768x432@10"
SIZE, FPS = (768, 432), 10

if not list(pathlib.Path("/dev").glob("media*")):
    pytest.fail("no media device: run these tests through tests/vm/run.sh, which loads vimc", pytrace=False)


def cam(frames, camera="1"):
    """libcamera's `cam` capturing `frames` frames from `camera` (its number from 1, or its id; the first by default):
    (frames it got, what it said)."""
    r = subprocess.run(["cam", "-c", camera, f"-C{frames}"], capture_output=True, text=True, timeout=60,
                       env={"LIBCAMERA_LOG_LEVELS": "*:ERROR", "PATH": "/usr/bin:/bin"})
    return sum(1 for line in r.stdout.splitlines() if "seq:" in line), r.stdout + r.stderr


def assert_shows_a_picture(d, size):
    """The daemon's snapshot is `size` and a real picture, not the grey NO SIGNAL card."""
    with urllib.request.urlopen(d.base + "/snapshot", timeout=30) as r:
        picture = decode_jpeg(r.read())
    assert picture.size == size and ImageStat.Stat(picture.convert("L")).stddev[0] > 20, picture.size


def test_devices_lists_the_libcamera_camera_first():
    r = subprocess.run([BINARY, "devices"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[0]
    assert first.startswith("libcamera:0 ") and "Sensor B" in first, r.stdout


def test_a_libcamera_camera_streams_at_its_size_and_rate_and_is_recorded(tmp_path):
    d = Daemon("--camera", SPEC, "--segment-seconds", "4", recordings=tmp_path)
    try:
        wait_for(lambda: status(d)["state"] == "streaming", 30, "streaming")
        time.sleep(2)
        s0, t0 = status(d)["framesCaptured"], time.monotonic()
        time.sleep(5)
        fps = (status(d)["framesCaptured"] - s0) / (time.monotonic() - t0)
        assert abs(fps - FPS) <= 1.5, fps
        # vimc's sensor draws colour bars.
        assert_shows_a_picture(d, SIZE)
        wait_for(lambda: any(tmp_path.rglob("*.mp4")), 40, "a finished segment")
    finally:
        assert d.stop() == 0
    segment = next(tmp_path.rglob("*.mp4"))
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name,width,height",
                            "-of", "csv=p=0", str(segment)], capture_output=True, text=True, timeout=120)
    assert probe.stdout.strip() == f"h264,{SIZE[0]},{SIZE[1]}" and probe.stderr == "", probe.stdout + probe.stderr


def test_another_program_is_refused_while_the_daemon_holds_the_camera_and_gets_it_once_it_lets_go(tmp_path):
    d = Daemon("--camera", SPEC, recordings=tmp_path)
    try:
        wait_for(lambda: status(d)["state"] == "streaming", 30, "streaming")
        got, said = cam(3)
        # libcamera in `cam` cannot even see the camera the daemon holds.
        assert got == 0 and ("in use" in said.lower() or "acquire" in said.lower() or "not found" in said.lower()), said
        # Switched to another source: the camera is free as soon as the switch has answered.
        code, answer = post(d, "/api/cameras/front/source", {"source": "testpattern"})
        assert code == 200, answer
        got, said = cam(3)
        assert got == 3, said
    finally:
        assert d.stop() == 0
    d = Daemon("--camera", SPEC, recordings=tmp_path)
    wait_for(lambda: status(d)["state"] == "streaming", 30, "streaming again")
    code, seconds = d.terminate_timed()
    assert code == 0 and seconds < 2, (code, seconds)
    # Stopped: the first try of another program gets the camera.
    got, said = cam(3)
    assert got == 3, said


def test_a_camera_another_program_holds_is_no_signal_with_the_reason_until_it_is_free(tmp_path):
    holder = subprocess.Popen(["cam", "-c", "1", "-C"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={"LIBCAMERA_LOG_LEVELS": "*:ERROR", "PATH": "/usr/bin:/bin"})
    try:
        assert "seq:" in next(line for line in holder.stdout if "seq:" in line or "rror" in line)
        d = Daemon("--camera", SPEC, recordings=tmp_path)
        try:
            wait_for(lambda: status(d)["state"] == "no signal", 30, "NO SIGNAL")
            reason = status(d)["stateReason"]
            assert reason.startswith("camera held by another program: /dev/media") and f"PID {holder.pid} (cam)" in reason, reason
            holder.terminate()
            holder.wait(10)
            wait_for(lambda: status(d)["state"] == "streaming", 40, "the camera back once the other program let go")
            assert status(d)["reconnects"] >= 1
        finally:
            assert d.stop() == 0
    finally:
        holder.kill()
        holder.wait(10)
