"""The published OpenAPI document is what the server does: every documented operation is sent a request that must
succeed, and answers with a status and a content type the document lists for it; HEAD of every GET operation
answers with GET's status and headers and no body. A new operation without a request here fails the test."""
import datetime
import json
import socket
import time
import urllib.parse

import pytest

from conftest import Daemon
from helpers import wait_for


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    # 2 s segments: finished files to verify, protect, serve and export without waiting a default minute.
    daemon = Daemon("--camera", "front=testpattern:320x240@10", "--segment-seconds", "2",
                    recordings=tmp_path_factory.mktemp("openapi"))
    yield daemon
    assert daemon.stop() == 0


def exchange(d, method, target, headers=None, body=b"", keep=4096, timeout=10):
    """(status, headers, first bytes of the body) over a raw socket with `Connection: close`: what the server sent,
    body bytes after a HEAD included. Endless streams are cut after `keep` bytes."""
    head = {"Host": f"127.0.0.1:{d.port}", "Authorization": d.auth, "Connection": "close", **(headers or {})}
    if body:
        head["Content-Length"] = str(len(body))
    request = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head.items()) + "\r\n"
    with socket.create_connection(("127.0.0.1", d.port), timeout=timeout) as s:
        s.sendall(request.encode() + body)
        data = b""
        while b"\r\n\r\n" not in data or len(data) - data.index(b"\r\n\r\n") - 4 < keep:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
    header_bytes, _, rest = data.partition(b"\r\n\r\n")
    lines = header_bytes.decode("latin-1").split("\r\n")
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), fields, rest


def recorded(d):
    """A finished segment's path, once the daemon has recorded three (the last seconds can be played and exported)."""
    def segments():
        return sorted(p for p in d.recordings.rglob("*.mp4") if p.stat().st_nlink == 1)
    wait_for(lambda: len(segments()) >= 3, 30, "three finished segments")
    return segments()[0].relative_to(d.recordings).as_posix()


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def requests_for(d, segment):
    """One request per documented operation that must succeed: (method, documented path) -> (target, headers, body,
    expected status). The camera's own settings and source are set to what they are, so later requests see the same."""
    now = time.time()
    q = urllib.parse.quote
    js = {"Content-Type": "application/json"}
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    return {
        ("get", "/stream"): ("/stream?camera=front", {}, b"", 200),
        ("get", "/video_feed"): ("/video_feed?camera=front", {}, b"", 200),
        ("get", "/snapshot"): ("/snapshot?camera=front", {}, b"", 200),
        ("get", "/snapshot.jpg"): ("/snapshot.jpg?camera=front", {}, b"", 200),
        ("get", "/healthz"): ("/healthz", {}, b"", 200),
        ("get", "/metrics"): ("/metrics", {}, b"", 200),
        ("get", "/api/openapi.json"): ("/api/openapi.json", {}, b"", 200),
        ("get", "/api/status"): ("/api/status", {}, b"", 200),
        ("post", "/api/recording/stop"): ("/api/recording/stop", js, b'{"camera": "front"}', 200),
        ("post", "/api/recording/start"): ("/api/recording/start", js, b'{"camera": "front"}', 200),
        ("post", "/api/events"): ("/api/events", js, b'{"camera": "front", "reason": "openapi"}', 202),
        ("get", "/api/recordings"): ("/api/recordings?camera=front&limit=5", {}, b"", 200),
        ("post", "/api/recordings/protect"): ("/api/recordings/protect", js, json.dumps({"path": segment, "protected": False}).encode(), 200),
        ("get", "/api/recordings/verify"): (f"/api/recordings/verify?path={q(segment)}", {}, b"", 200),
        ("get", "/api/device-key"): ("/api/device-key", {}, b"", 200),
        ("get", "/api/timeline"): ("/api/timeline?camera=front", {}, b"", 200),
        ("get", "/api/play"): (f"/api/play?camera=front&start={q(iso(now - 4))}", {}, b"", 200),
        ("get", "/api/export"): (f"/api/export?camera=front&start={q(iso(now - 5))}&end={q(iso(now - 3))}", {}, b"", 200),
        # No GPS here: an empty track (tests/e2e/test_gps.py checks one with points).
        ("get", "/api/track"): (f"/api/track?camera=front&from={q(iso(now - 5))}&to={q(iso(now - 3))}", {}, b"", 200),
        # No accelerometer here: no readings (tests/vm/test_gsensor.py checks one with an impact).
        ("get", "/api/gforce"): (f"/api/gforce?camera=front&from={q(iso(now - 5))}&to={q(iso(now - 3))}&buckets=4", {}, b"", 200),
        ("post", "/api/cameras/{id}/source"): ("/api/cameras/front/source", js, b'{"source": "testpattern:320x240@10"}', 200),
        ("get", "/recordings/{path}"): (f"/recordings/{q(segment)}", {}, b"", 200),
        # MJPEG replay of a recording in the default codec (H.264) is the documented refusal; /api/play plays it.
        ("get", "/recordings/{path}/play"): (f"/recordings/{q(segment)}/play", {}, b"", 409),
        ("get", "/"): ("/", {}, b"", 200),
        ("get", "/login"): ("/login", {}, b"", 200),
        ("post", "/login"): ("/login", form, f"user=admin&password={d.password}".encode(), 303),
        ("post", "/logout"): ("/logout", {"Accept": "application/json"}, b"", 200),
        ("get", "/api/session"): ("/api/session", {}, b"", 200),
        ("get", "/api/cameras"): ("/api/cameras", {}, b"", 200),
        ("post", "/api/cameras/{id}/settings"): ("/api/cameras/front/settings", js, b'{"quality": 80}', 200),
        ("get", "/ui/app.js"): ("/ui/app.js", {}, b"", 200),
        ("get", "/ui/app.css"): ("/ui/app.css", {}, b"", 200),
        ("get", "/stream.mp4"): ("/stream.mp4?camera=front", {}, b"", 200),
    }


def documented(spec):
    return {(method, path): op for path, item in spec["paths"].items() for method, op in item.items()
            if method in ("get", "post", "put", "patch", "delete")}


def content_types(spec, response):
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return set(response.get("content", {}))


def test_every_documented_operation_answers_as_documented(d):
    segment = recorded(d)
    status, _, body = exchange(d, "GET", "/api/openapi.json", keep=1 << 24)
    spec = json.loads(body)
    operations = documented(spec)
    requests = requests_for(d, segment)
    assert set(operations) == set(requests), f"documented but not tried: {sorted(set(operations) - set(requests))}; " \
                                             f"tried but not documented: {sorted(set(requests) - set(operations))}"
    for (method, path), (target, headers, body, expected) in requests.items():
        status, fields, _ = exchange(d, method.upper(), target, headers, body)
        answers = operations[(method, path)]["responses"]
        assert status == expected, f"{method.upper()} {target}: {status}, expected {expected}"
        kinds = content_types(spec, answers[str(status)])
        kind = fields.get("content-type", "").split(";")[0]
        assert not kinds or kind in kinds, f"{method.upper()} {target}: Content-Type {kind!r}, documented {sorted(kinds)}"


def test_head_of_every_documented_get_has_the_get_headers_and_no_body(d):
    segment = recorded(d)
    # Headers that differ between two answers by nature (the time, a new session, the size of a new picture), and
    # the framing of a body HEAD does not send (RFC 9112 lets a HEAD answer leave out Transfer-Encoding).
    varying = {"date", "set-cookie", "content-length", "transfer-encoding", "x-start-epoch", "x-start", "x-end", "etag", "last-modified"}
    fixed = ("/ui/", "/api/openapi.json", "/recordings/")  # the same bytes each time: the same Content-Length
    for (method, path), (target, headers, _, _) in requests_for(d, segment).items():
        if method != "get":
            continue
        get_status, get_fields, _ = exchange(d, "GET", target, headers)
        started = time.monotonic()
        head_status, head_fields, head_body = exchange(d, "HEAD", target, headers, keep=1)
        assert time.monotonic() - started < 5, f"HEAD {target} waited like a stream"
        assert head_status == get_status, f"HEAD {target}: {head_status}, GET {get_status}"
        assert head_body == b"", f"HEAD {target} sent {len(head_body)} body bytes"
        assert {k: v for k, v in head_fields.items() if k not in varying} == {k: v for k, v in get_fields.items() if k not in varying}, target
        if target.startswith(fixed) and get_status == 200:
            assert head_fields.get("content-length") == get_fields["content-length"], target
