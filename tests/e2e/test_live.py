"""End to end over real sockets: the built daemon with two test-pattern cameras."""
import json
import socket
import subprocess
import threading

from conftest import BINARY, ROOT
from mjpeg import MJPEGStream, decode_jpeg
from helpers import get


def read_parts(daemon, path, count):
    stream = MJPEGStream(daemon.base, path)
    try:
        assert stream.response.status == 200
        assert stream.content_type.startswith("multipart/x-mixed-replace")
        return [stream.next_part() for _ in range(count)]
    finally:
        stream.close()


def check_parts(parts, size):
    previous = None
    stamps = []
    for headers, jpeg in parts:
        assert headers["content-type"] == "image/jpeg"
        assert int(headers["content-length"]) == len(jpeg)
        assert decode_jpeg(jpeg).size == size
        assert jpeg != previous, "two successive frames are identical"
        previous = jpeg
        stamps.append(float(headers["x-timestamp"]))
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


def test_sixty_parts_from_each_camera_concurrently(daemon):
    results = {}

    def read(name, path):
        results[name] = read_parts(daemon, path, 60)

    threads = [threading.Thread(target=read, args=("front", "/stream")),
               threading.Thread(target=read, args=("rear", "/stream?camera=rear"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    check_parts(results["front"], (640, 360))
    check_parts(results["rear"], (320, 240))


def test_stream_aliases(daemon):
    for path in ["/video_feed", "/?action=stream", "/video_feed?camera=rear"]:
        parts = read_parts(daemon, path, 2)
        expected = (320, 240) if "rear" in path else (640, 360)
        check_parts(parts, expected)


def test_snapshots(daemon):
    for path, size in [("/snapshot", (640, 360)), ("/snapshot.jpg", (640, 360)),
                       ("/?action=snapshot", (640, 360)), ("/snapshot?camera=rear", (320, 240))]:
        status, headers, body = get(daemon, path)
        assert status == 200, path
        assert headers["Content-Type"] == "image/jpeg"
        assert int(headers["Content-Length"]) == len(body)
        assert decode_jpeg(body).size == size


def test_status_reports_each_camera(daemon):
    stream = MJPEGStream(daemon.base, "/stream?camera=rear")
    try:
        stream.next_part()
        status, headers, body = get(daemon, "/api/status")
    finally:
        stream.close()
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    data = json.loads(body)
    cams = {c["id"]: c for c in data["cameras"]}
    assert list(cams) == ["front", "rear"]
    rear = cams["rear"]
    assert (rear["width"], rear["height"], rear["configuredFps"]) == (320, 240, 30)
    assert rear["framesEncoded"] > 0 and rear["measuredFps"] > 0
    assert rear["liveClients"] >= 1
    assert rear["encodeMs"]["mean"] > 0 and rear["encodeMs"]["p99"] >= rear["encodeMs"]["mean"] * 0.5
    for key in ["framesDropped", "drops", "viewerSkippedFrames", "framesCaptured"]:
        assert key in rear


def test_unknown_camera_and_path_are_json_404(daemon):
    for path in ["/stream?camera=nope", "/snapshot?camera=nope", "/video_feed?camera=nope"]:
        status, headers, body = get(daemon, path)
        assert status == 404
        err = json.loads(body)
        assert err["error"] == "unknown camera" and "front, rear" in err["detail"]
    status, _, body = get(daemon, "/no/such/thing")
    assert status == 404 and "no such path" in json.loads(body)["detail"]
    status, _, body = get(daemon, "/?action=dance")
    assert status == 400 and "stream, snapshot" in json.loads(body)["detail"]


def test_healthz_and_page(daemon):
    status, _, body = get(daemon, "/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"
    status, headers, body = get(daemon, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    # The page is the single-page UI (exercised in Chromium by tests/e2e/test_ui.py), served from the binary.
    assert 'src="/ui/app.js"' in body.decode()
    assert "script-src 'self'" in headers["Content-Security-Policy"]


def test_sigterm_with_three_open_streams_exits_within_two_seconds(start_daemon):
    d = start_daemon("--camera", "front=testpattern:320x240@30", "--camera", "rear=testpattern:320x240@30")
    streams = [MJPEGStream(d.base, p) for p in ["/stream", "/stream?camera=rear", "/video_feed"]]
    for s in streams:
        s.next_part()
    code, took = d.terminate_timed()
    for s in streams:
        s.close()
    assert code == 0 and took <= 2.0, f"exit {code} after {took:.2f} s"


def run_cli(*args):
    return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=30)


def test_bad_flags_give_one_line_and_exit_2():
    for args, words in [(["--no-such-flag"], "--no-such-flag"),
                        (["run", "--camera", "front=testpattern:99x10"], "99x10"),
                        (["run", "--quality", "0"], "quality 0"),
                        (["run", "--port", "70000"], "port 70000")]:
        r = run_cli(*args)
        assert r.returncode == 2, (args, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], (args, r.stderr)


def test_port_in_use_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run_cli("run", "--host", "127.0.0.1", "--port", str(port), "--camera", "a=testpattern:160x120@5")
    assert r.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in r.stderr


def test_help_reads_well():
    r = run_cli("--help")
    assert r.returncode == 0
    for words in ["run (default)", "bench", "testpattern"]:
        assert words in r.stdout
    r = run_cli("run", "--help")
    for flag in ["--host", "--port", "--camera", "--quality", "--size", "--workers", "--no-overlay"]:
        assert flag in r.stdout


def test_metrics_parse_as_prometheus_text(daemon):
    from prometheus_client.parser import text_string_to_metric_families
    # JPEGs are made for viewers (the cameras record H.264): watch both, whatever ran before.
    read_parts(daemon, "/stream?camera=rear", 3)
    read_parts(daemon, "/stream?camera=front", 3)
    status, headers, body = get(daemon, "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    encoded = {s.labels["camera"]: s.value for s in families["blackbox_frames_encoded"].samples if s.name.endswith("_total")}
    assert encoded["front"] > 0 and encoded["rear"] > 0
    causes = {s.labels["cause"] for s in families["blackbox_frames_dropped"].samples if s.name.endswith("_total")}
    assert {"no_free_buffer", "encoder_busy", "device_dropped"} <= causes
    histogram = families["blackbox_encode_seconds"]
    counts = [s.value for s in histogram.samples if s.name.endswith("_count") and s.labels["camera"] == "rear"]
    assert histogram.type == "histogram" and counts and counts[0] > 0
    assert "blackbox_live_clients_count" in families and "blackbox_disk_free_bytes" in families
    # Counters only go up between scrapes.
    _, _, again = get(daemon, "/metrics")
    later = {f.name: f for f in text_string_to_metric_families(again.decode())}
    encoded2 = {s.labels["camera"]: s.value for s in later["blackbox_frames_encoded"].samples if s.name.endswith("_total")}
    assert encoded2["front"] >= encoded["front"]


def test_openapi_document_is_valid_and_the_repository_copy_is_the_one_served(daemon):
    """Valid OpenAPI 3; that the server does what it says is test_openapi.py's work."""
    from openapi_spec_validator import validate
    status, headers, body = get(daemon, "/api/openapi.json")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    spec = json.loads(body)
    validate(spec)
    served = ROOT / "Sources" / "Serving" / "Resources" / "openapi.json"
    assert spec == json.loads(served.read_text())
