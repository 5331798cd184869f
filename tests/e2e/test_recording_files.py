"""Recordings over HTTP: download with Range, path confinement, and MJPEG replay at recorded pace."""
import http.client
import json
import os
import time

import pytest

from mjpeg import MJPEGStream, decode_jpeg
from helpers import wait_for
from test_recording import finished


@pytest.fixture(scope="module")
def recorded():
    from conftest import Daemon
    d = Daemon("--camera", "front=testpattern:640x360@30", "--segment-seconds", "3", "--fragment-seconds", "0.5")
    wait_for(lambda: len(finished(d.recordings)) >= 1, 30, "a finished segment")
    path = finished(d.recordings)[0]
    yield d, path, str(path.relative_to(d.recordings))
    assert d.stop() == 0


@pytest.fixture(scope="module")
def recorded_mjpeg():
    """A finished Motion JPEG segment: replay (multipart, at the recorded pace) is for MJPEG recordings."""
    from conftest import Daemon
    d = Daemon("--camera", "front=testpattern:640x360@30", "--segment-seconds", "3", "--fragment-seconds", "0.5", "--codec", "mjpeg")
    wait_for(lambda: len(finished(d.recordings)) >= 1, 30, "a finished segment")
    path = finished(d.recordings)[0]
    yield d, path, str(path.relative_to(d.recordings))
    assert d.stop() == 0


def raw_get(d, target, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
    conn.request("GET", target, headers={"Authorization": d.auth, **(headers or {})})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, r.headers, body


def test_download_whole_and_ranges(recorded):
    d, path, rel = recorded
    data = path.read_bytes()
    status, headers, body = raw_get(d, "/recordings/" + rel)
    assert status == 200 and body == data and headers["Accept-Ranges"] == "bytes" and headers["Content-Type"] == "video/mp4"
    n = len(data)
    for spec, first, last in [("bytes=0-99", 0, 99), ("bytes=-10", n - 10, n - 1), ("bytes=100-", 100, n - 1),
                              ("bytes=50-50", 50, 50), (f"bytes=10-{n + 500}", 10, n - 1)]:
        status, headers, body = raw_get(d, "/recordings/" + rel, {"Range": spec})
        assert status == 206 and body == data[first:last + 1], spec
        assert headers["Content-Range"] == f"bytes {first}-{last}/{n}", spec
    for spec in ["bytes=abc", f"bytes={len(data)}-", "bytes=5-2", "bytes=0-1,5-6", "items=0-1", "bytes=-0"]:
        status, headers, body = raw_get(d, "/recordings/" + rel, {"Range": spec})
        assert status == 416 and headers["Content-Range"] == f"bytes */{len(data)}", spec
        assert "cannot be served" in json.loads(body)["detail"]


def test_paths_stay_inside_the_recordings_folder(recorded, tmp_path):
    d, path, rel = recorded
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(b"outside")
    os.symlink(secret, d.recordings / "front" / "link.mp4")
    os.symlink(tmp_path, d.recordings / "elsewhere")
    for target in ["/recordings/../../etc/passwd", "/recordings/%2e%2e/%2e%2e/etc/passwd", "/recordings//etc/passwd",
                   "/recordings/front/../../secret.mp4", "/recordings/front/link.mp4", "/recordings/elsewhere/secret.mp4",
                   "/recordings/%2Fetc%2Fpasswd", "/recordings/front/.hidden.mp4", "/recordings/" + rel + "%00.mp4"]:
        status, _, body = raw_get(d, target)
        assert status in (400, 404), target
        assert b"outside" not in body and b"root:" not in body, target


def test_replay_at_recorded_pace_and_seek(recorded_mjpeg, recorded):
    # An H.264 recording (the default) is played by the browser's <video> from the file itself: replay says so.
    d, _, rel = recorded
    status, _, body = raw_get(d, "/recordings/" + rel + "/play?t=1.5")
    assert status == 409 and "replay is for MJPEG recordings" in json.loads(body)["detail"]
    d, path, rel = recorded_mjpeg
    stream = MJPEGStream(d.base, "/recordings/" + rel + "/play?t=1.5")
    started = time.monotonic()
    parts = []
    while time.monotonic() - started < 1.0:
        parts.append(stream.next_part())
    stream.close()
    # About one second of 30 fps video in one second, starting at the asked time.
    assert 20 <= len(parts) <= 40, len(parts)
    assert abs(float(parts[0][0]["x-timestamp"]) - 1.5) < 0.1
    assert decode_jpeg(parts[0][1]).size == (640, 360)
    stamps = [float(h["x-timestamp"]) for h, _ in parts]
    assert stamps == sorted(stamps)
    status, _, body = raw_get(d, "/recordings/" + rel + "/play?t=999")
    assert status == 400 and "past the end" in json.loads(body)["detail"]
    status, _, body = raw_get(d, "/recordings/" + rel + "/play?t=soon")
    assert status == 400
