"""`/api/cameras`: settings and their choices, changes applied without a restart, and every bad request named."""
import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import ROOT, Daemon
from mjpeg import MJPEGStream, decode_jpeg
from overlay import image_pixel, overlay_clock


def call(d, path, body=None, raw=None):
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(d.base + path, data=data, method="POST" if data is not None else "GET",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    daemon = Daemon("--camera", "front=testpattern:640x360@15", "--segment-seconds", "30",
                    recordings=tmp_path_factory.mktemp("settings"))
    yield daemon
    assert daemon.stop() == 0


def test_cameras_lists_settings_and_choices(d):
    status, body = call(d, "/api/cameras")
    assert status == 200
    front = body["cameras"][0]
    assert front["settings"] == {"width": 640, "height": 360, "fps": 15, "quality": 80, "overlay": True, "codec": "h264", "mode": "continuous"}
    sizes = {(s["width"], s["height"]): s["fps"] for s in front["choices"]["sizes"]}
    assert 15 in sizes[(640, 360)] and (1280, 720) in sizes and (320, 240) in sizes
    assert front["choices"]["reencodes"] is True and front["choices"]["qualityMax"] == 100


def test_bad_settings_requests_name_what_was_wrong(d):
    cases = [
        ("/api/cameras/nope/settings", {"quality": 50}, 404, "no camera 'nope'; cameras: front"),
        ("/api/cameras/front/settings", {"quality": 0}, 400, "quality 0 is out of range; allowed: 1 to 100"),
        ("/api/cameras/front/settings", {"quality": "high"}, 400, "field 'quality'"),
        ("/api/cameras/front/settings", {"qualty": 50}, 400, "field 'qualty' is not known; allowed: codec, fps, height, mode, muted, overlay, quality, width"),
        ("/api/cameras/front/settings", {"width": 320}, 400, "give width and height together"),
        ("/api/cameras/front/settings", {"width": 333, "height": 111}, 400, "333x111@15 is not offered"),
        ("/api/cameras/front/settings", {"fps": 7}, 400, "allowed: 1920x1080@30/25/20/15/10/5"),
        ("/api/cameras/front/settings", {"overlay": "yes"}, 400, "field 'overlay'"),
        ("/api/cameras/front/settings", {"quality": None}, 400, "field 'quality' is null; allowed: a value of its type, or leave the field out"),
    ]
    for path, body, code, words in cases:
        status, answer = call(d, path, body)
        assert status == code, (body, answer)
        assert words in answer["detail"], (body, answer)
    status, answer = call(d, "/api/cameras/front/settings", raw=b"{bad json")
    assert status == 400 and answer["error"] == "malformed JSON"
    status, answer = call(d, "/api/cameras/front/settings", raw=b" " * 20000)
    assert status == 413 and "16384 bytes" in answer["detail"]
    status, answer = call(d, "/api/cameras/front/settings", raw=b"")
    assert status == 400 and answer["error"] == "missing body"
    # Nothing changed.
    assert call(d, "/api/cameras")[1]["cameras"][0]["settings"]["quality"] == 80


def test_quality_and_overlay_apply_to_the_next_frames(d):
    def clock(jpeg):
        image = decode_jpeg(jpeg)
        return overlay_clock(image_pixel(image), image.size[1])

    stream = MJPEGStream(d.base, "/stream")
    _, before = stream.next_part()
    assert clock(before) is not None, "no overlay clock on the picture before the change"
    status, answer = call(d, "/api/cameras/front/settings", {"quality": 20, "overlay": False})
    assert status == 200 and answer["settings"]["quality"] == 20 and answer["settings"]["overlay"] is False
    # Frames encoded before the change may still be on their way; the first re-encoded one ends the wait.
    for _ in range(30):
        _, after = stream.next_part()
        if len(after) < len(before) * 0.7:
            break
    # Quality 20 is much smaller than 80, and from then on no clock is printed.
    assert len(after) < len(before) * 0.7, (len(before), len(after))
    later = [stream.next_part()[1] for _ in range(5)]
    stream.close()
    assert [clock(jpeg) for jpeg in [after, *later]] == [None] * 6


def test_size_and_rate_change_without_restart_and_start_a_new_segment(d):
    status, answer = call(d, "/api/cameras/front/settings", {"width": 320, "height": 240, "fps": 10})
    assert status == 200 and answer["settings"] == {"width": 320, "height": 240, "fps": 10, "quality": 20, "overlay": False, "codec": "h264", "mode": "continuous"}
    stream = MJPEGStream(d.base, "/stream")
    for _ in range(3):
        _, jpeg = stream.next_part()
    stream.close()
    assert decode_jpeg(jpeg).size == (320, 240)
    # The measured rate covers the last 2 s: wait for it to leave the old 15 fps behind.
    deadline = time.monotonic() + 10
    while True:
        status, body = call(d, "/api/status")
        front = body["cameras"][0]
        if 8 <= front["measuredFps"] <= 12 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert (front["width"], front["height"], front["configuredFps"]) == (320, 240, 10)
    assert 8 <= front["measuredFps"] <= 12
    # The size change closed the 640x360 segment; the new one is 320x240. ffprobe reads both.
    call(d, "/api/recording/stop", {})
    deadline = time.monotonic() + 10
    while list(d.recordings.rglob("*.mp4.part")) and time.monotonic() < deadline:
        time.sleep(0.1)
    files = sorted(p for p in d.recordings.rglob("*.mp4"))
    sizes = set()
    for f in files:
        r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
                            "-of", "csv=p=0", str(f)], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        sizes.add(r.stdout.strip())
    assert {"640,360", "320,240"} <= sizes, sizes


def test_recordings_list_filters_and_bad_parameters(d):
    status, body = call(d, "/api/recordings?camera=front&kind=segment&limit=1")
    assert status == 200 and len(body["recordings"]) == 1 and body["total"] >= 2
    entry = body["recordings"][0]
    assert entry["kind"] == "segment" and entry["duration"] > 0 and len(entry["day"]) == 10
    status, body = call(d, f"/api/recordings?day={entry['day']}")
    assert status == 200 and all(r["day"] == entry["day"] for r in body["recordings"])
    status, body = call(d, "/api/recordings?day=1999-01-01")
    assert status == 200 and body["recordings"] == [] and body["total"] == 0
    for query, words in [("kind=movie", "allowed: segment, event"), ("limit=0", "allowed: 1 to 5000"), ("limit=x", "allowed: 1 to 5000")]:
        status, body = call(d, "/api/recordings?" + query)
        assert status == 400 and words in body["detail"], query


def test_settings_changed_in_the_ui_survive_a_restart(tmp_path):
    args = ("--camera", "front=testpattern:640x360@15", "--no-record")
    d = Daemon(*args, recordings=tmp_path)
    try:
        status, _ = call(d, "/api/cameras/front/settings", {"width": 320, "height": 240, "fps": 5, "quality": 55, "overlay": False})
        assert status == 200
    finally:
        assert d.stop() == 0
    saved = tmp_path / ".blackbox" / "cameras.toml"
    assert 'source = "testpattern"' in saved.read_text() and "quality = 55" in saved.read_text()
    again = Daemon(*args, recordings=tmp_path)
    try:
        assert call(again, "/api/cameras")[1]["cameras"][0]["settings"] == \
            {"width": 320, "height": 240, "fps": 5, "quality": 55, "overlay": False, "codec": "h264", "mode": "off"}
    finally:
        assert again.stop() == 0
    assert "settings saved from the web UI" in again.log()
    # Settings saved for another source are not applied to a camera the configuration now gives another source.
    other = Daemon("--camera", "front=rpicam:0:640x360@15", "--no-record", recordings=tmp_path,
                   env={"PATH": f"{ROOT}/tests/fake-rpicam:{os.environ['PATH']}", "FAKE_RPICAM": "normal"})
    try:
        assert call(other, "/api/cameras")[1]["cameras"][0]["settings"]["width"] == 640
    finally:
        assert other.stop() == 0
    # A damaged file is ignored with a warning: it never stops the daemon from starting.
    saved.write_text("[front]\nwidth = \"big\"\n")
    damaged = Daemon(*args, recordings=tmp_path)
    try:
        assert call(damaged, "/api/cameras")[1]["cameras"][0]["settings"]["width"] == 640
    finally:
        assert damaged.stop() == 0
    assert "ignoring the saved camera settings" in damaged.log()
