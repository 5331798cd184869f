"""rpicam:N end to end: the daemon runs a fake rpicam-vid (tests/fake-rpicam, first on PATH)."""
import io
import json
import os
import time
import urllib.error
import urllib.request

from PIL import Image

from conftest import ROOT
from mjpeg import MJPEGStream

FAKE = ROOT / "tests" / "fake-rpicam"


def test_frames_from_rpicam_vid_arrive_intact_on_the_stream(start_daemon, tmp_path):
    fed = []
    for i, colour in enumerate([(200, 40, 40), (40, 200, 40), (40, 40, 200)]):
        out = io.BytesIO()
        Image.new("RGB", (320, 240), colour).save(out, "JPEG", quality=80)
        path = tmp_path / f"{i}.jpg"
        path.write_bytes(out.getvalue())
        fed.append(out.getvalue())
    env = {"PATH": f"{FAKE}:{os.environ['PATH']}", "FAKE_RPICAM": "normal",
           "FAKE_RPICAM_JPEGS": ":".join(str(tmp_path / f"{i}.jpg") for i in range(3))}
    d = start_daemon("--camera", "pi=rpicam:0:320x240@30,mjpeg", "--no-record", env=env)
    stream = MJPEGStream(d.base, "/stream")
    served = [stream.next_part()[1] for _ in range(12)]
    stream.close()
    assert all(s in fed for s in served), "a served frame differs from every frame rpicam-vid wrote"
    assert len(set(served)) == 3
    with urllib.request.urlopen(d.base + "/api/status", timeout=10) as r:
        cam = json.loads(r.read())["cameras"][0]
    assert cam["source"] == "rpicam:0 320x240@30 mjpeg" and cam["state"] == "streaming"
    assert cam["drops"]["deviceDropped"] == 0, cam["drops"]  # the times it wrote (--save-pts) have no gap
    assert d.stop() == 0


def camera_when(d, ready, seconds):
    """The camera's status once `ready` accepts it, or the last one after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        with urllib.request.urlopen(d.base + "/api/status", timeout=10) as r:
            cam = json.loads(r.read())["cameras"][0]
        if ready(cam) or time.monotonic() > deadline:
            return cam
        time.sleep(0.2)


def test_frames_the_camera_lost_are_counted_from_its_timestamps(start_daemon):
    # The fake loses every 10th frame as rpicam-vid does when its buffers run out: no frame, and a gap in its times.
    env = {"PATH": f"{FAKE}:{os.environ['PATH']}", "FAKE_RPICAM": "lossy"}
    d = start_daemon("--camera", "pi=rpicam:0:160x120@30", "--no-record", env=env)
    cam = camera_when(d, lambda c: c["framesCaptured"] >= 90, 20)
    captured, lost = cam["framesCaptured"], cam["drops"]["deviceDropped"]
    # One lost after every 9 delivered (a frame's time may be read just before or after the frame itself).
    assert captured >= 90 and abs(lost - captured / 9) <= 1.5, (captured, cam["drops"])
    assert cam["framesDropped"] >= lost
    assert d.stop() == 0


def test_switching_cameras_stops_the_old_child_before_starting_the_new(start_daemon, tmp_path):
    starts = tmp_path / "starts"
    env = {"PATH": f"{FAKE}:{os.environ['PATH']}", "FAKE_RPICAM": "ignore-term", "FAKE_RPICAM_STARTS": str(starts)}
    d = start_daemon("--camera", "pi=rpicam:0:160x120@30", "--no-record", env=env)
    stream = MJPEGStream(d.base, "/stream")
    stream.next_part()
    stream.close()
    request = urllib.request.Request(d.base + "/api/cameras/pi/source", data=json.dumps({"source": "rpicam:1"}).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=15) as r:
        cam = json.loads(r.read())
    assert cam["source"] == "rpicam:1 160x120@30 yuv420"
    deadline = time.monotonic() + 10
    while len(starts.read_text().splitlines()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # the new child writes its line as it starts
    lines = starts.read_text().splitlines()
    assert [l.split()[1] for l in lines] == ["camera=0", "camera=1"]
    # The old child ignored SIGTERM, was killed and reaped before the new one started.
    assert lines[1].endswith("earlier-alive=0")
    assert not os.path.exists(f"/proc/{lines[0].split()[0]}")
    bad = urllib.request.Request(d.base + "/api/cameras/pi/source", data=json.dumps({"source": "rpicam:1:640x480"}).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(bad, timeout=10)
        raise AssertionError("a size change was accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 400 and "POST /api/cameras/pi/settings" in json.loads(e.read())["detail"]
    assert d.stop() == 0


def test_an_rpicam_vid_that_cannot_write_its_timestamps_is_started_without(start_daemon):
    env = {"PATH": f"{FAKE}:{os.environ['PATH']}", "FAKE_RPICAM": "no-pts"}
    d = start_daemon("--camera", "pi=rpicam:0:160x120@30", "--no-record", env=env)
    cam = camera_when(d, lambda c: c["state"] == "streaming" and c["framesCaptured"] >= 10, 20)
    assert cam["state"] == "streaming" and cam["framesCaptured"] >= 10 and cam["reconnects"] >= 1, cam
    assert "cannot write its timestamps" in d.log(), d.log()
    assert d.stop() == 0

