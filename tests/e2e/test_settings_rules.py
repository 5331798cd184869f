"""Each setting's rule is stated once: the same bad value through a flag, the configuration file and the HTTP API is
refused with the same allowed range or list in every answer."""
import json
import subprocess
import urllib.error
import urllib.request

import pytest

from conftest import BINARY, Daemon

# (setting, flag arguments, configuration file, API body or None, the allowed range or list every answer names)
RULES = [
    ("quality", ["--quality", "101"], "[capture]\nquality = 101\n", {"quality": 101}, "allowed: 1 to 100"),
    ("codec", ["--codec", "h265"], "[recording]\ncodec = \"h265\"\n", {"codec": "h265"}, "allowed: mjpeg, h264"),
    ("mode", ["--record-mode", "parking"], "[recording]\nmode = \"parking\"\n", {"mode": "parking"}, "allowed: continuous, motion, off"),
    ("workers", ["--workers", "17"], "[capture]\nworkers = 17\n", None, "allowed: 1 to 16"),
    ("buffers", ["--buffers", "40"], "[capture]\nbuffers = 40\n", None, "allowed: 2 to 32"),
    ("rotation", ["--rotation", "90"], "[capture]\nrotation = 90\n", None, "allowed: 0 or 180 (degrees)"),
    ("port", ["--port", "70000"], "[server]\nport = 70000\n", None, "allowed: 1 to 65535, or 0 for any free port"),
    ("max connections", ["--max-connections", "4"], "[server]\nmax_connections = 4\n", None, "allowed: 8 to 100000"),
    ("trusted proxy", ["--trusted-proxy", "proxy.lan"], "[server]\ntrusted_proxies = [\"proxy.lan\"]\n", None,
     "allowed: IPv4 or IPv6 addresses such as 127.0.0.1 or ::1"),
    ("log level", ["--log-level", "loud"], "[log]\nlevel = \"loud\"\n", None, "allowed: trace, debug, info, notice, warning, error, critical"),
    ("format", ["--format", "rgb"], "[capture]\nformat = \"rgb\"\n", None, "allowed: auto, mjpeg, yuv420, nv12, yuyv, grey, h264"),
    ("segment", ["--segment-seconds", "0"], "[recording]\nsegment_seconds = 0\n", None, "allowed: 1 to 3600"),
    ("pre-roll", ["--event-pre", "400"], "[recording]\nevent_pre_seconds = 400\n", None, "allowed: 0 to 300"),
    ("post-roll", ["--event-post", "4000"], "[recording]\nevent_post_seconds = 4000\n", None, "allowed: 0 to 3600"),
    ("event quota", ["--event-quota", "100"], "[recording]\nevent_quota_percent = 100\n", None, "allowed: 1 to 99"),
    ("fsync", ["--fsync", "sometimes"], "[recording]\nfsync = \"sometimes\"\n", None, "allowed: fragment, never, or a whole number N of fragments"),
    ("quota", ["--quota", "lots"], "[recording]\nquota = \"lots\"\n", None, "allowed: a size like 32G or 800M, or a share like 50%"),
    ("min free", ["--min-free", "some"], "[recording]\nmin_free = \"some\"\n", None, "allowed: a size like 256M or 1G"),
]


def refused(args, tmp_path):
    """The one-line error and exit code of `blackbox run` refusing to start."""
    r = subprocess.run([BINARY, "run", "--recordings", str(tmp_path / "rec"), *args], capture_output=True, text=True, timeout=30)
    return r.returncode, r.stderr.strip()


@pytest.fixture(scope="module")
def daemon():
    d = Daemon("--camera", "front=testpattern:320x240@10")
    yield d
    assert d.stop() == 0


@pytest.mark.parametrize("name,flags,file,body,allowed", RULES, ids=[r[0] for r in RULES])
def test_the_same_rule_answers_through_flag_file_and_api(name, flags, file, body, allowed, tmp_path, daemon):
    code, flag_error = refused(flags, tmp_path)
    assert code == 2 and allowed in flag_error, flag_error
    config = tmp_path / "blackbox.toml"
    config.write_text(file)
    code, file_error = refused(["--config", str(config)], tmp_path)
    assert code == 2 and allowed in file_error and f"{config}:" in file_error, file_error
    if body is not None:
        req = urllib.request.Request(daemon.base + "/api/cameras/front/settings", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "X-Requested-With": "blackbox"})
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(req, timeout=10)
        assert answer.value.code == 400
        detail = json.loads(answer.value.read())["detail"]
        assert allowed in detail, detail


def test_the_served_api_document_states_the_same_limits(daemon):
    with urllib.request.urlopen(daemon.base + "/api/openapi.json", timeout=10) as r:
        doc = json.loads(r.read())
    props = doc["paths"]["/api/cameras/{id}/settings"]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert (props["quality"]["minimum"], props["quality"]["maximum"]) == (1, 100)
    assert (props["fps"]["minimum"], props["fps"]["maximum"]) == (1, 120)
    assert props["codec"]["enum"] == ["mjpeg", "h264"] and props["mode"]["enum"] == ["continuous", "motion", "off"]
    # Every answer above names these same limits.
    for _, _, _, body, allowed in RULES:
        if body and "quality" in body:
            assert allowed == f"allowed: {props['quality']['minimum']} to {props['quality']['maximum']}"
        if body and "codec" in body:
            assert allowed == "allowed: " + ", ".join(props["codec"]["enum"])
        if body and "mode" in body:
            assert allowed == "allowed: " + ", ".join(props["mode"]["enum"])
