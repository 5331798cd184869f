"""libcamera:N on a USB webcam, through libcamera's own uvcvideo pipeline handler (#24): the UVC device of
tests/vm/usbip_camera.py with its uncompressed YUYV format, plugged into the VM's xHCI controller through QEMU's
usb-redir (tests/vm/usbredir_port.py), so that Linux's xhci-hcd and uvcvideo and then libcamera (Debian's 0.0.3, through
GStreamer's libcamerasrc) drive it as a webcam on a USB port. The daemon records it at its size and rate; while the
daemon holds it libcamera's `cam` is refused, and gets it on its first try once the daemon has stopped; pulled out while
streamed, viewers see NO SIGNAL, and plugged in again it is taken back, with no descriptor left behind and the camera
free for another program after the daemon stops, also when udev is late to tell libcamera. H.264, the product's default. Runs inside the VM (tests/vm/run.sh)."""
import os
import pathlib
import signal
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "e2e"))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from conftest import BINARY, Daemon  # noqa: E402
from helpers import camera_status as status, wait_for  # noqa: E402
from test_libcamera import assert_shows_a_picture, cam  # noqa: E402
from test_recording import decodes_cleanly  # noqa: E402
from test_usb_camera import assert_taken_back, seconds_to_no_signal, sizes_and_rate  # noqa: E402
from usbip_camera import FPS, RAW_SIZES, Camera, in_libcamera  # noqa: E402
from usbredir_port import PORT, RedirPort  # noqa: E402

import pytest  # noqa: E402

SIZE = RAW_SIZES[0]
CYCLES = 3

if not pathlib.Path(PORT).exists():
    pytest.fail(f"no {PORT}: run these tests through tests/vm/run.sh, which gives the guest a usb-redir port", pytrace=False)


def camera_descriptors_now(pid):
    """(descriptors of devices and DMA buffers, mappings of DMA buffers and video nodes) of the process `pid` at this
    instant."""
    fds = [os.readlink(f"/proc/{pid}/fd/{n}") for n in os.listdir(f"/proc/{pid}/fd")]
    with open(f"/proc/{pid}/maps") as maps:
        mapped = sum(1 for line in maps if "dmabuf" in line or "/dev/video" in line)
    return sum(1 for f in fds if f.startswith(("/dev/video", "/dev/media", "/dev/v4l-subdev", "/dmabuf"))), mapped


def camera_descriptors(pid, samples=20, gap=0.05):
    """What a camera's teardown leaves behind if it leaks: the fewest of each of `camera_descriptors_now` over `samples`
    readings `gap` seconds apart. The capture thread maps each frame's DMA buffer while it copies it (CI once caught
    one such mapping, (6, 1) against (6, 0)); a leaked one is there in every reading. Other descriptors come and go with
    viewers and threads."""
    readings = []
    for _ in range(samples):
        readings.append(camera_descriptors_now(pid))
        time.sleep(gap)
    return tuple(min(r[i] for r in readings) for i in range(2))


@pytest.fixture(scope="module")
def camera():
    # libcamera's order of cameras can differ from one process to the next (seen in CI: the N that `blackbox devices`
    # gave for the USB camera was vimc's in the daemon). vimc, used only by test_libcamera.py (run before this file),
    # is unloaded so that the USB camera is libcamera's only one and N names it in every process.
    subprocess.run(["rmmod", "vimc"], capture_output=True, timeout=60)
    cam = Camera("/run/tmp/usb-camera-frames", raw=True)
    port = RedirPort(cam)
    port.plug()
    try:
        wait_for(lambda: in_libcamera(BINARY) is not None, 90, "libcamera listing the USB camera")
        yield cam, port
    finally:
        port.unplug()


def daemon_on_it(*args, **kwargs):
    """A daemon reading the USB camera as libcamera:N at its size and rate, and libcamera's id of the camera."""
    index, camera_id = in_libcamera(BINARY)
    return Daemon("--camera", f"front=libcamera:{index}:{SIZE[0]}x{SIZE[1]}@{FPS}", *args, **kwargs), camera_id


def test_the_usb_camera_is_recorded_at_its_size_and_rate(camera, tmp_path):
    d, _ = daemon_on_it("--segment-seconds", "12", recordings=tmp_path)
    try:
        wait_for(lambda: status(d)["state"] == "streaming", 60, "streaming")
        assert_shows_a_picture(d, SIZE)  # the street
        wait_for(lambda: any(tmp_path.rglob("*.mp4")), 60, "a finished segment")
    finally:
        assert d.stop() == 0
    segment = sorted(tmp_path.rglob("*.mp4"))[0]
    sizes, rate = sizes_and_rate(segment)
    assert sizes == {SIZE} and abs(rate - FPS) <= 0.05 * FPS, (sizes, rate)
    assert decodes_cleanly(segment)


def test_another_program_is_refused_while_the_daemon_holds_it_and_gets_it_once_it_stops(camera, tmp_path):
    d, camera_id = daemon_on_it("--no-record")
    try:
        wait_for(lambda: status(d)["state"] == "streaming", 60, "streaming")
        got, said = cam(3, camera_id)
        assert got == 0, said
    finally:
        code, seconds = d.terminate_timed()
    assert code == 0 and seconds < 2, (code, seconds)
    # Stopped: the first try of another program gets the camera.
    got, said = cam(3, camera_id)
    assert got == 3, said


def test_pulled_out_is_no_signal_and_plugged_in_again_is_taken_back(camera):
    # libcamerasrc says nothing when its camera goes: the daemon counts a second with no frame as lost (the v4l2 path
    # hears it from the driver and has a 1 s bound), so NO SIGNAL may take up to 2 s here.
    _, port = camera
    d, camera_id = daemon_on_it("--no-record")
    try:
        wait_for(lambda: status(d)["state"] == "streaming", 60, "streaming")
        baseline = None
        for cycle in range(CYCLES):
            seen = seconds_to_no_signal(d, port.unplug, cycle)
            assert seen < 2.0, f"cycle {cycle}: NO SIGNAL reached the viewer {seen:.2f} s after the camera was pulled out"
            port.plug()
            assert_taken_back(d, cycle, 60)
            if baseline is None:
                baseline = camera_descriptors(d.proc.pid)
        held = camera_descriptors(d.proc.pid)
        assert held == baseline, f"device and buffer descriptors and mappings {held} after {CYCLES} cycles, {baseline} after the first"
    finally:
        if sys.exc_info()[0] is not None:
            print(d.log()[-4000:])  # what the daemon said, kept for a failure seen once
        code, seconds = d.terminate_timed()
    assert code == 0 and seconds < 2, (code, seconds)
    # Stopped: the first try of another program gets the camera.
    got, said = cam(3, camera_id)
    assert got == 3, said


def signal_all(pids, sig):
    """Sends `sig` to each of `pids` that still exists."""
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass  # a udev worker that had finished


def pause_udev():
    """Stops udev's daemon and its workers, all of them (a worker left running could still pass an event on); their PIDs."""
    pids = [int(p) for p in subprocess.run(["pidof", "systemd-udevd"], capture_output=True, text=True, timeout=10).stdout.split()]
    assert pids, "no systemd-udevd in the VM"
    signal_all(pids, signal.SIGSTOP)
    return pids


def test_pulled_out_before_udev_tells_libcamera_the_daemon_waits_and_lives(camera):
    # libcamera aborts a process that stops a camera pulled out before its own thread has heard of the unplug from udev
    # (an assertion in PipelineHandler::stop: the vanished device never gives its queued requests back). CI saw it once,
    # the machine busy and udev late. Here udev is paused across the pull-out for longer than the daemon's second without
    # frames: the daemon must show NO SIGNAL, live through it, and take the camera back once udev goes on.
    _, port = camera
    d, _ = daemon_on_it("--no-record")
    try:
        wait_for(lambda: status(d)["state"] == "streaming", 60, "streaming")
        udev = pause_udev()
        try:
            seen = seconds_to_no_signal(d, port.unplug, 0)
            assert seen < 2.0, f"NO SIGNAL reached the viewer {seen:.2f} s after the camera was pulled out"
            time.sleep(3)
            assert d.proc.poll() is None, d.log()[-3000:]
            assert status(d)["state"] == "no signal"
        finally:
            signal_all(udev, signal.SIGCONT)
        port.plug()
        assert_taken_back(d, 0, 60)
    finally:
        if sys.exc_info()[0] is not None and d.proc.poll() is None:
            print(d.log()[-4000:])
        code, seconds = d.terminate_timed()
    assert code == 0 and seconds < 2, (code, seconds, d.log()[-3000:])
