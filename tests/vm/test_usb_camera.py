"""A USB webcam (#24) through the kernel's own uvcvideo: the UVC device of tests/vm/usbip_camera.py on the kernel's
USB/IP host controller, sending the street clip as Motion JPEG at 640x480 and 320x240, 10 frames a second. The daemon
records each size at its rate (H.264, the product's default; every frame decodes), serves the camera's JPEGs as they
came (pass-through), and when the camera is pulled out shows NO SIGNAL within a second, then takes it back when it is
plugged in again, twenty times over with no descriptor or mapping left behind. Runs inside the VM (tests/vm/run.sh)."""
import json
import pathlib
import statistics
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "e2e"))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from conftest import Daemon  # noqa: E402
from helpers import camera_status as status, descriptors_and_video_mappings, get, wait_for  # noqa: E402
from mjpeg import MJPEGStream, decode_jpeg  # noqa: E402
from overlay import no_signal_title  # noqa: E402
from test_recording import decodes_cleanly  # noqa: E402
from usbip_camera import FPS, SIZES, Camera, video_device  # noqa: E402

import pytest  # noqa: E402

CYCLES = 20


@pytest.fixture(scope="module")
def camera():
    cam = Camera("/run/tmp/usb-camera-frames")
    cam.plug()
    wait_for(video_device, 30, "uvcvideo's /dev/video node for the USB camera")
    yield cam, video_device()
    cam.unplug()


def sizes_and_rate(path):
    """The picture sizes in a recording and its frame rate: one over the median time between its frames (ffprobe).
    The camera here is Python under an emulated CPU; when it stalls it sends the late pictures in a burst, so the first
    and last frames' times say more about the stall than about the rate (CI: 107 frames over 11.2 s, 9.46 fps)."""
    r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "frame=pts_time,width,height", "-of", "json",
                        str(path)], capture_output=True, text=True, timeout=120)
    frames = json.loads(r.stdout)["frames"]
    times = sorted(float(f["pts_time"]) for f in frames)
    gaps = [b - a for a, b in zip(times, times[1:])]
    rate = 1 / statistics.median(gaps)
    print(f"{path.name}: {len(times)} frames at {rate:.3f} fps (over the whole span {(len(times) - 1) / (times[-1] - times[0]):.3f},"
          f" longest gap {max(gaps):.3f} s)")
    return {(f["width"], f["height"]) for f in frames}, rate


def seconds_to_no_signal(d, pull_out, cycle):
    """Pulls the camera out (`pull_out()`) while a viewer watches `d`'s stream: seconds until the viewer gets a NO SIGNAL
    card stamped after that."""
    stream = MJPEGStream(d.base, "/stream")
    try:
        stream.next_part()
        pull_out()
        lost, lost_wall = time.monotonic(), time.time()
        while True:
            headers, jpeg = stream.next_part()
            if float(headers["x-timestamp"]) >= lost_wall - 0.5 and no_signal_title(decode_jpeg(jpeg)) == "NO SIGNAL":
                return time.monotonic() - lost
            assert time.monotonic() - lost < 10, f"cycle {cycle}: no NO SIGNAL card in 10 s; camera {status(d)['state']}"
    finally:
        stream.close()


def assert_taken_back(d, cycle, seconds=30):
    """The camera plugged in again streams within `seconds`, and the snapshot is a picture again."""
    wait_for(lambda: status(d)["state"] == "streaming", seconds, f"streaming again in cycle {cycle}")
    code, _, body = get(d, "/snapshot")
    assert code == 200 and no_signal_title(decode_jpeg(body)) != "NO SIGNAL", f"cycle {cycle}: still NO SIGNAL"


@pytest.mark.parametrize("width,height", SIZES)
def test_each_size_is_recorded_at_its_rate_and_the_camera_s_jpegs_are_served_as_they_came(camera, width, height, tmp_path):
    cam, device = camera
    d = Daemon("--camera", f"front=v4l2:{device}:{width}x{height}@{FPS}", "--segment-seconds", "60", recordings=tmp_path)
    try:
        wait_for(lambda: status(d)["recording"]["framesWritten"] >= 10 * FPS, 60, "10 s recorded")
        s = status(d)
        assert s["state"] == "streaming" and "MJPG" in s["source"] and f"{width}x{height}" in s["source"], s
        # Live MJPEG is the camera's own JPEG, byte for byte.
        sent = set(cam.pictures[0][SIZES.index((width, height))])
        stream = MJPEGStream(d.base, "/stream")
        served = [stream.next_part()[1] for _ in range(5)]
        stream.close()
        assert all(part in sent for part in served), [len(p) for p in served]
    finally:
        assert d.stop() == 0
    path = next(tmp_path.rglob("*.mp4"))
    sizes, rate = sizes_and_rate(path)
    assert sizes == {(width, height)} and abs(rate - FPS) <= 0.02 * FPS, (sizes, rate)
    assert decodes_cleanly(path)


def test_pulled_out_is_no_signal_within_a_second_and_plugged_in_again_is_taken_back_without_leaking(camera):
    cam, device = camera
    d = Daemon("--camera", f"front=v4l2:{device}:320x240@{FPS}", "--no-record")
    pid = d.proc.pid

    try:
        wait_for(lambda: status(d)["state"] == "streaming", 30, "streaming")
        baseline = None
        for cycle in range(CYCLES):
            seen = seconds_to_no_signal(d, cam.unplug, cycle)
            assert seen < 1.0, f"cycle {cycle}: NO SIGNAL reached the viewer {seen:.2f} s after the camera was pulled out"
            wait_for(lambda: video_device() is None, 10, "the node gone")
            cam.plug()
            wait_for(lambda: video_device() == device, 30, f"{device} back after the replug")
            assert_taken_back(d, cycle)
            if baseline is None:
                baseline = descriptors_and_video_mappings(pid)
        fds, mappings = descriptors_and_video_mappings(pid)
        assert fds <= baseline[0] and mappings == baseline[1], f"fds and mappings {(fds, mappings)} after {CYCLES} cycles, {baseline} after the first"
        assert status(d)["reconnects"] >= CYCLES
    finally:
        assert d.stop() == 0
