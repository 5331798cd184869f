"""rpicam:N end to end: the daemon runs a fake rpicam-vid (tests/fake-rpicam, first on PATH)."""
import io
import json
import os
import pathlib
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
    assert d.stop() == 0
