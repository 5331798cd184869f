"""HTTP as clients expect it: HEAD and OPTIONS, 405 with Allow, HTTP/1.0 MJPEG without chunking,
Expect: 100-continue, time-outs for heads and bodies, strict JSON bodies, files the recorder wrote only."""
import concurrent.futures
import json
import os
import pathlib
import socket
import subprocess
import time

import pytest

from conftest import Daemon, ROOT


@pytest.fixture(scope="module")
def d():
    # 2 s segments: a finished one is there to fetch without waiting a default minute.
    daemon = Daemon("--camera", "front=testpattern:320x240@15", "--segment-seconds", "2")
    yield daemon
    assert daemon.stop() == 0


def raw(d, data, timeout=10, until=None):
    """Sends `data` as is and reads until the server closes (or `until` is seen)."""
    s = socket.create_connection(("127.0.0.1", d.port), timeout=timeout)
    s.sendall(data)
    out = b""
    try:
        while until is None or until not in out:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    finally:
        s.close()
    return out


def http(d, method, path, headers=None, body=None):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
    conn.request(method, path, body=body, headers={"Authorization": d.auth, **(headers or {})})
    r = conn.getresponse()
    data = r.read() if method != "HEAD" else b""
    conn.close()
    return r, data


def test_wrong_method_is_405_with_allow_and_options_lists_the_methods(d):
    r, body = http(d, "POST", "/api/status")
    assert r.status == 405 and r.getheader("Allow") == "GET, HEAD, OPTIONS"
    assert "allowed: GET, HEAD, OPTIONS" in json.loads(body)["detail"]
    r, _ = http(d, "DELETE", "/api/events")
    assert r.status == 405 and r.getheader("Allow") == "POST, OPTIONS"
    r, _ = http(d, "PUT", "/api/cameras/front/settings")
    assert r.status == 405 and "POST" in r.getheader("Allow")
    r, _ = http(d, "OPTIONS", "/api/status", headers={"Authorization": ""})
    assert r.status == 204 and r.getheader("Allow") == "GET, HEAD, OPTIONS"
    r, _ = http(d, "OPTIONS", "/login")
    assert r.status == 204 and r.getheader("Allow") == "GET, HEAD, POST, OPTIONS"
    r, body = http(d, "OPTIONS", "/no/such/path")
    assert r.status == 404 and b"no such path" in body
    r, _ = http(d, "GET", "/no/such/path")
    assert r.status == 404


def test_http10_stream_is_the_multipart_body_as_is_and_ends_with_the_connection(d):
    data = raw(d, f"GET /stream HTTP/1.0\r\nAuthorization: {d.auth}\r\n\r\n".encode(), until=b"--blackboxframe\r\nContent-Type: image/jpeg", timeout=5)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200")
    assert b"transfer-encoding" not in head.lower()
    assert b"connection: close" in head.lower()
    assert body.startswith(b"--blackboxframe\r\n")  # no chunk-size line before the part
    # A finite answer to HTTP/1.0 ends with the connection too (the client reads to the end).
    data = raw(d, b"GET /healthz HTTP/1.0\r\n\r\n", timeout=5)
    assert data.startswith(b"HTTP/1.0 200") and data.endswith(b'{"status":"ok"}')


def test_expect_100_continue_is_answered_before_the_body(d):
    s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
    body = b'{"reason": "continue"}'
    s.sendall(f"POST /api/events HTTP/1.1\r\nHost: x\r\nAuthorization: {d.auth}\r\nContent-Type: application/json\r\n"
              f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n".encode())
    assert s.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
    s.sendall(body)
    answer = s.recv(4096)
    s.close()
    assert answer.startswith(b"HTTP/1.1 202")


def test_stalled_requests_are_closed_by_the_server(d):
    stalled = {
        "endless-head": b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
        "silent": b"",
        "short-body": b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nuser=a",
        "endless-chunked": b"POST /login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nuser=\r\n",
    }

    def attempt(request_bytes):
        started = time.monotonic()
        data = raw(d, request_bytes, timeout=30)
        return data, time.monotonic() - started

    # All at once: each waits for the server's time-out on its own connection.
    with concurrent.futures.ThreadPoolExecutor(len(stalled)) as pool:
        results = dict(zip(stalled, pool.map(attempt, stalled.values())))
    for name, (data, took) in results.items():
        assert data == b"" and took < 25, (name, data[:100], took)


def test_json_bodies_are_strict(d):
    r, body = http(d, "POST", "/api/events", {"Content-Type": "text/plain"}, b'{"reason": "x"}')
    assert r.status == 415 and "allowed: application/json" in json.loads(body)["detail"]
    r, body = http(d, "POST", "/api/events", {}, b'{"reason": "x"}')
    assert r.status == 415
    r, body = http(d, "POST", "/api/events", {"Content-Type": "application/json"}, b'{"reason": "x", "camra": "front"}')
    assert r.status == 400 and "field 'camra' is not known; allowed: camera, reason" in json.loads(body)["detail"]
    r, body = http(d, "POST", "/api/events", {"Content-Type": "application/json"}, b'["front"]')
    assert r.status == 400
    r, body = http(d, "POST", "/api/events", {"Content-Type": "application/json"}, json.dumps({"reason": "x" * 201}).encode())
    assert r.status == 400 and "up to 200" in json.loads(body)["detail"]
    forged = "door\n2026-11-25T10:00:00+0000 critical blackbox: [blackbox] disk destroyed"
    r, body = http(d, "POST", "/api/events", {"Content-Type": "application/json; charset=utf-8"}, json.dumps({"reason": forged}).encode())
    assert r.status == 400 and "control characters" in json.loads(body)["detail"]
    r, _ = http(d, "POST", "/api/events", {"Content-Type": "application/json; charset=utf-8"}, json.dumps({"reason": "door"}).encode())
    assert r.status == 202


def test_a_hard_link_to_a_file_outside_is_not_served(d, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("not a recording\n")
    day = d.recordings / "front" / "2026-01-01"
    day.mkdir(parents=True, exist_ok=True)
    link = day / "20260101-000000_front.mp4"
    os.link(secret, link)
    try:
        r, body = http(d, "GET", "/recordings/front/2026-01-01/20260101-000000_front.mp4")
        assert r.status == 404 and b"not a recording" not in body
    finally:
        link.unlink()
    # A segment the recorder finished is served, byte for byte.
    deadline = time.monotonic() + 15
    while not (files := [p for p in d.recordings.rglob("*.mp4") if p.stat().st_nlink == 1]) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert files, "no finished segment in 15 s"
    r, body = http(d, "GET", "/recordings/" + files[0].relative_to(d.recordings).as_posix())
    assert r.status == 200 and r.getheader("Content-Type") == "video/mp4" and body == files[0].read_bytes()


def test_schemathesis_finds_no_failures_against_the_openapi_document(d):
    """Property-based requests from the published OpenAPI document: no 5xx, responses as documented.

    `ignored_auth` is left out: it sends wrong credentials again and again and wants 401 every time,
    while the server answers the fourth wrong try with the documented 429 (login throttling).
    The live stream (also `/?action=stream`) and replay never end, and changing the camera's source or size is tested elsewhere,
    as are the timeline, export, GPS track and g-force graph, whose parameters depend on each other (a day or from and
    to; an end after the start), which the document cannot express (test_timeline.py, test_gps.py, test_openapi.py and
    tests/vm/test_gsensor.py)."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    schemathesis = pathlib.Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "schemathesis"
    r = subprocess.run([str(schemathesis), "run", f"{d.base}/api/openapi.json", "--url", d.base,
                        "-H", f"Authorization: {d.auth}", "--max-examples", "25", "--request-timeout", "5",
                        "--exclude-path", "/stream", "--exclude-path", "/stream.mp4", "--exclude-path", "/video_feed", "--exclude-path-regex", ".*/play$",
                        "--exclude-path", "/", "--exclude-path", "/logout", "--exclude-path", "/api/cameras/{id}/source",
                        "--exclude-path", "/api/cameras/{id}/settings", "--exclude-path", "/api/timeline", "--exclude-path", "/api/export",
                        "--exclude-path", "/api/track", "--exclude-path", "/api/gforce",
                        "--exclude-checks", "ignored_auth", "--suppress-health-check", "filter_too_much", "--no-color"],
                       capture_output=True, text=True, timeout=900, env=env, cwd=d.recordings)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
