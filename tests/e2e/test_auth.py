"""Authentication over real sockets: first-run password, Basic and session cookies, every control route
refused without credentials, cross-site refusal, failed-login throttling, `public_live`, `blackbox passwd`."""
import hashlib
import http.client
import json
import os
import re
import stat
import subprocess
import time

import pytest

import rtsp
from conftest import BINARY, Daemon, basic

# Every route that needs credentials, with the method a client would use.
RESTRICTED = [
    ("GET", "/"), ("GET", "/api/status"), ("GET", "/api/recordings"), ("GET", "/api/cameras"), ("GET", "/api/session"),
    ("GET", "/metrics"), ("GET", "/recordings/front/2026-01-01/x.mp4"), ("GET", "/recordings/front/2026-01-01/x.mp4/play"),
    ("POST", "/api/recording/start"), ("POST", "/api/recording/stop"), ("POST", "/api/events"),
    ("POST", "/api/recordings/protect"), ("POST", "/api/cameras/front/settings"), ("POST", "/api/cameras/front/source"),
    ("GET", "/no/such/path"),
]
LIVE = [("GET", "/stream"), ("GET", "/video_feed"), ("GET", "/snapshot"), ("GET", "/snapshot.jpg"),
        ("GET", "/?action=stream"), ("GET", "/?action=snapshot")]
OPEN = [("GET", "/login"), ("GET", "/healthz"), ("GET", "/api/openapi.json"), ("GET", "/ui/app.js"), ("GET", "/ui/app.css")]


def request(d, method, path, headers=None, body=None, read=True):
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    conn.request(method, path, body=data, headers=headers or {})
    r = conn.getresponse()
    payload = r.read() if read else b""
    conn.close()
    return r.status, r, payload


@pytest.fixture(scope="module")
def d():
    daemon = Daemon("--camera", "front=testpattern:320x240@10", "--no-record")
    yield daemon
    assert daemon.stop() == 0


def test_first_run_stores_only_a_hash_with_mode_0600(d):
    path = d.recordings / ".blackbox" / "auth.toml"
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode == 0o600, oct(mode)
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    text = path.read_text()
    assert d.password and d.password not in text
    assert re.search(r'password_hash = "\$2b\$11\$.{53}"', text)
    assert len(d.password) == 16


def test_every_control_route_needs_credentials(d):
    for method, path in RESTRICTED + LIVE:
        status, r, body = request(d, method, path)
        if path == "/":
            assert status == 303 and r.getheader("Location") == "/login", path
            continue
        assert status == 401, (method, path, status)
        assert r.getheader("WWW-Authenticate", "").startswith("Basic realm="), path
        assert json.loads(body)["error"] == "unauthorized"
    # The UI's own requests get no Basic challenge (no browser dialog).
    status, r, _ = request(d, "GET", "/api/status", {"X-Requested-With": "blackbox"})
    assert status == 401 and r.getheader("WWW-Authenticate") is None


def test_open_routes_need_nothing(d):
    for method, path in OPEN:
        status, _, _ = request(d, method, path)
        assert status == 200, path


def test_basic_auth_works_and_wrong_passwords_are_refused(d):
    status, _, body = request(d, "GET", "/api/status", {"Authorization": d.auth})
    assert status == 200 and json.loads(body)["cameras"][0]["id"] == "front"
    for wrong in [basic("admin", "nope"), basic("root", d.password), "Basic !!!notbase64", "Bearer abc"]:
        status, _, body = request(d, "GET", "/api/status", {"Authorization": wrong})
        assert status == 401, wrong
    status, r, _ = request(d, "GET", "/snapshot", {"Authorization": d.auth})
    assert status == 200 and r.getheader("Content-Type") == "image/jpeg"


def login(d, user="admin", password=None, form=True, headers=None):
    if form:
        body = f"user={user}&password={password or d.password}".encode()
        h = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
    else:
        body = json.dumps({"user": user, "password": password or d.password}).encode()
        h = {"Content-Type": "application/json", **(headers or {})}
    return request(d, "POST", "/login", h, body)


def session_cookie(r):
    header = r.getheader("Set-Cookie")
    assert header, "no cookie set"
    return header, header.split(";", 1)[0]


def test_form_login_sets_a_strict_httponly_cookie_and_logout_ends_it(d):
    status, r, _ = login(d)
    assert status == 303 and r.getheader("Location") == "/"
    header, cookie = session_cookie(r)
    assert "HttpOnly" in header and "SameSite=Strict" in header and "Path=/" in header
    status, _, body = request(d, "GET", "/api/session", {"Cookie": cookie})
    assert status == 200 and json.loads(body)["user"] == "admin"
    status, _, _ = request(d, "GET", "/", {"Cookie": cookie})
    assert status == 200
    status, _, _ = request(d, "POST", "/logout", {"Cookie": cookie, "Accept": "application/json"})
    assert status == 200
    status, _, _ = request(d, "GET", "/api/status", {"Cookie": cookie})
    assert status == 401
    # A made-up session token is nobody's.
    status, _, _ = request(d, "GET", "/api/status", {"Cookie": "blackbox_session=" + "0" * 64})
    assert status == 401


def test_json_login_and_bad_login_bodies(d):
    status, r, body = login(d, form=False)
    assert status == 200 and json.loads(body)["user"] == "admin"
    session_cookie(r)
    status, _, body = request(d, "POST", "/login", {"Content-Type": "application/json"}, b"{not json")
    assert status == 400 and json.loads(body)["error"] == "malformed login"
    status, _, body = request(d, "POST", "/login", {"Content-Type": "application/json"}, b"x" * 10000)
    assert status == 413
    status, _, body = request(d, "POST", "/login", {"Content-Type": "application/x-www-form-urlencoded"}, b"user=admin")
    assert status == 400 and b"user and password" in body


def test_cross_site_state_changes_are_refused_even_with_a_session(d):
    _, r, _ = login(d)
    _, cookie = session_cookie(r)
    host = f"127.0.0.1:{d.port}"
    for headers in [{"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                    {"Origin": "null"}]:
        status, _, body = request(d, "POST", "/api/events", {"Cookie": cookie, "Host": host, **headers})
        assert status == 403, headers
        assert json.loads(body)["error"] == "cross-site request"
    # Basic credentials do not help a cross-site request either (a browser may have cached them).
    status, _, _ = request(d, "POST", "/api/recording/stop", {"Authorization": d.auth, "Origin": "http://evil.example"})
    assert status == 403
    # The same origin is fine (event clips work with continuous recording off).
    status, _, _ = request(d, "POST", "/api/events", {"Cookie": cookie, "Origin": f"http://{host}", "Sec-Fetch-Site": "same-origin"})
    assert status == 202


def test_failed_logins_are_slowed_per_client_and_never_lock_the_owner_out_for_long():
    d = Daemon("--camera", "front=testpattern:160x120@5", "--no-record")
    try:
        for _ in range(3):
            status, _, _ = login(d, password="wrong-password")
            assert status == 401
        status, r, body = login(d, password="wrong-password")
        wait = int(r.getheader("Retry-After"))
        assert status == 429 and 0 < wait <= 12
        # For those seconds even the right password is refused, by form and by Basic...
        status, _, body = login(d)
        assert status == 429 and b"try again in" in body
        status, r, _ = request(d, "GET", "/api/status", {"Authorization": d.auth})
        assert status == 429 and r.getheader("Retry-After")
        # ...X-Forwarded-For from a client that is not a configured proxy changes nothing...
        status, _, _ = login(d, headers={"X-Forwarded-For": "203.0.113.9"})
        assert status == 429
        # ...and then the owner gets in: seconds, not the minutes an attacker could once force.
        time.sleep(wait + 0.2)
        status, _, _ = login(d)
        assert status == 303
    finally:
        assert d.stop() == 0


def test_behind_a_trusted_proxy_each_forwarded_client_is_throttled_on_its_own():
    d = Daemon("--camera", "front=testpattern:160x120@5", "--no-record", "--trusted-proxy", "127.0.0.1")
    try:
        attacker = {"X-Forwarded-For": "198.51.100.7"}
        for _ in range(3):
            assert login(d, password="wrong-password", headers=attacker)[0] == 401
        assert login(d, password="wrong-password", headers=attacker)[0] == 429
        # The owner behind the same proxy is not affected by the attacker's failures.
        assert login(d, headers={"X-Forwarded-For": "192.0.2.1"})[0] == 303
        # A client cannot pose as another by adding its own X-Forwarded-For entry before the proxy's.
        assert login(d, password="wrong-password", headers={"X-Forwarded-For": "192.0.2.1, 198.51.100.7"})[0] == 429
    finally:
        assert d.stop() == 0


def test_public_live_opens_live_view_only(tmp_path):
    config = tmp_path / "blackbox.toml"
    config.write_text("[server]\npublic_live = true\n")
    d = Daemon("--config", str(config), "--camera", "front=testpattern:160x120@5", "--no-record")
    try:
        for method, path in LIVE:
            status, r, _ = request(d, method, path, read="action=stream" not in path and "stream" not in path and "feed" not in path)
            assert status == 200, path
        for method, path in RESTRICTED:
            status, _, _ = request(d, method, path)
            assert status in (303, 401), path
    finally:
        assert d.stop() == 0


def test_restart_keeps_the_password_and_passwd_changes_it(tmp_path):
    d = Daemon("--camera", "front=testpattern:160x120@5", "--no-record", recordings=tmp_path)
    first = d.password
    assert d.stop() == 0
    again = Daemon("--camera", "front=testpattern:160x120@5", "--no-record", recordings=tmp_path)
    try:
        assert again.password == first
        assert request(again, "GET", "/api/status", {"Authorization": basic("admin", first)})[0] == 200
    finally:
        assert again.stop() == 0
    out = again.output()
    assert "generated password" not in out
    # Too short: refused, nothing changed.
    r = subprocess.run([BINARY, "passwd", "--recordings", str(tmp_path)], input="short\n", capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "at least 8" in r.stderr
    r = subprocess.run([BINARY, "passwd", "--recordings", str(tmp_path), "--user", "viewer"], input="a-new-secret\n",
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    changed = Daemon("--camera", "front=testpattern:160x120@5", "--no-record", recordings=tmp_path)
    try:
        assert request(changed, "GET", "/api/status", {"Authorization": basic("viewer", "a-new-secret")})[0] == 200
        assert request(changed, "GET", "/api/status", {"Authorization": basic("admin", first)})[0] == 401
        # RTSP takes the new account too, by Digest (its HA1 stored beside the hash) and by Basic.
        for scheme in ["digest", "basic"]:
            c = rtsp.Client("127.0.0.1", changed.rtsp_port, "front", "viewer", "a-new-secret", scheme)
            assert c.request("DESCRIBE")[0] == 200, scheme
            c.close()
    finally:
        assert changed.stop() == 0
    stored = (tmp_path / ".blackbox" / "auth.toml").read_text()
    assert f'digest_ha1 = "{hashlib.md5(b"viewer:blackbox:a-new-secret").hexdigest()}"' in stored and "a-new-secret" not in stored


def test_configured_hash_is_used_and_a_bad_auth_file_is_a_clear_error(tmp_path):
    r = subprocess.run([BINARY, "passwd", "--print-hash", "--user", "ops"], input="configured-pass\n",
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "password_hash = \"$2b$" in r.stdout and "digest_ha1 = " in r.stdout
    config = tmp_path / "blackbox.toml"
    config.write_text(r.stdout)
    d = Daemon("--config", str(config), "--camera", "front=testpattern:160x120@5", "--no-record")
    try:
        assert request(d, "GET", "/api/status", {"Authorization": basic("ops", "configured-pass")})[0] == 200
    finally:
        assert d.stop() == 0
    broken = tmp_path / "auth.toml"
    broken.write_text("user = \"admin\"\n")
    r = subprocess.run([BINARY, "run", "--auth-file", str(broken), "--port", "0", "--no-record",
                        "--recordings", str(tmp_path)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and f"{broken}: needs user" in r.stderr


def test_ffmpeg_reads_the_stream_with_credentials_in_the_url(d, tmp_path):
    out = tmp_path / "frame.jpg"
    for path in ["/stream", "/?action=stream"]:
        r = subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", f"http://admin:{d.password}@127.0.0.1:{d.port}{path}",
                            "-frames:v", "3", "-update", "1", str(out)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert out.read_bytes()[:2] == b"\xff\xd8"
