"""libcamera:N cameras, read in the daemon's own process through GStreamer's libcamerasrc.

This host has no camera libcamera can see, so here the frame path is also driven by a named fake:
BLACKBOX_LIBCAMERA_FAKE puts GStreamer's videotestsrc where libcamerasrc would be, and everything after it (size, rate,
conversion to I420, the appsink, the copy into the camera's pool, NO SIGNAL and the retries) is the product's. Without
the fake, the real libcamera is asked, and it says it sees no camera. A real libcamera camera (Linux's vimc) is used in
the VM: tests/vm/test_libcamera.py."""
import json
import subprocess

from conftest import BINARY, Daemon
from helpers import camera_status, wait_for
from test_recording import decodes_cleanly, finished

# A live test source where libcamerasrc would be: a moving ball, so that consecutive pictures differ.
FAKE = "videotestsrc is-live=true pattern=ball"


def test_without_a_camera_libcamera_says_it_sees_none_and_recording_goes_on_with_no_signal(tmp_path):
    d = Daemon("--camera", "front=libcamera:0:640x360@15", "--segment-seconds", "2", recordings=tmp_path)
    try:
        wait_for(lambda: camera_status(d)["state"] == "no signal", 20, "NO SIGNAL")
        cam = camera_status(d)
        assert cam["stateReason"] == "libcamera has no camera 0; it sees none", cam["stateReason"]
        assert cam["source"] == "libcamera:0 640x360@15"
        # The NO SIGNAL picture is recorded like any other: the gap is on file, with its reason on screen.
        wait_for(lambda: len(finished(tmp_path)) >= 1, 30, "a finished segment")
        assert camera_status(d)["reconnects"] >= 1
    finally:
        assert d.stop() == 0
    assert all(decodes_cleanly(p) for p in finished(tmp_path))
    assert "reason=libcamera has no camera 0; it sees none" in d.log()


def test_a_named_camera_that_is_not_there_is_named_in_the_reason(tmp_path):
    d = Daemon("--camera", "front=libcamera:imx708@1a:1280x720@30", recordings=tmp_path)
    try:
        wait_for(lambda: camera_status(d)["state"] == "no signal", 20, "NO SIGNAL")
        assert camera_status(d)["stateReason"] == "libcamera has no camera 'imx708@1a'; it sees none"
    finally:
        assert d.stop() == 0


def test_frames_through_the_libcamera_pipeline_are_recorded_at_the_asked_size_and_rate(tmp_path):
    # The fake stands in for the camera only; the product's defaults (H.264, 60 s segments) record it.
    d = Daemon("--camera", "front=libcamera:0:640x360@15", "--segment-seconds", "3", recordings=tmp_path,
               env={"BLACKBOX_LIBCAMERA_FAKE": FAKE})
    try:
        wait_for(lambda: camera_status(d)["state"] == "streaming", 20, "streaming")
        wait_for(lambda: len(finished(tmp_path)) >= 2, 30, "two segments")
        cam = camera_status(d)
        assert 14 <= cam["measuredFps"] <= 16, cam["measuredFps"]
        assert cam["drops"]["noFreeBuffer"] == 0 and cam["reconnects"] == 0, cam
        code, seconds = d.terminate_timed()
        assert code == 0 and seconds < 2, (code, seconds)
    finally:
        d.stop()
    assert "libcamera camera replaced by a fake for tests" in d.log()
    for path in finished(tmp_path):
        r = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                            "stream=codec_name,width,height,nb_read_frames:format=duration", "-of", "json", str(path)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and r.stderr == "", r.stderr
        info = json.loads(r.stdout)
        stream, duration = info["streams"][0], float(info["format"]["duration"])
        assert (stream["codec_name"], stream["width"], stream["height"]) == ("h264", 640, 360), stream
        assert abs(int(stream["nb_read_frames"]) / duration - 15) <= 0.5, (stream, duration)
        assert decodes_cleanly(path), path.name


def test_a_camera_stream_that_ends_shows_no_signal_and_comes_back(tmp_path):
    # The fake ends after 2 s (45 frames), as a camera does when it fails: NO SIGNAL with the reason, then a new start.
    d = Daemon("--camera", "front=libcamera:0:320x240@15", recordings=tmp_path,
               env={"BLACKBOX_LIBCAMERA_FAKE": "videotestsrc is-live=true num-buffers=30 pattern=ball"})
    try:
        wait_for(lambda: camera_status(d)["state"] == "no signal", 20, "NO SIGNAL after the stream ended")
        assert camera_status(d)["stateReason"] == "the camera's stream ended"
        wait_for(lambda: camera_status(d)["reconnects"] >= 1 and camera_status(d)["state"] == "streaming", 20, "streaming again")
        assert camera_status(d)["framesCaptured"] > 30
    finally:
        assert d.stop() == 0


def test_devices_and_doctor_report_what_libcamera_sees():
    r = subprocess.run([BINARY, "devices"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "libcamera: no cameras", r.stdout
    r = subprocess.run([BINARY, "doctor", "--port", "1"], capture_output=True, text=True, timeout=120)
    assert "OK    libcamera: no cameras" in r.stdout, r.stdout
