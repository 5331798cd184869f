"""doctor, snapshot and configuration files, as a user runs them."""
import socket
import subprocess

from conftest import BINARY, ROOT
from mjpeg import decode_jpeg


def run(*args, timeout=60):
    return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=timeout)


def fake_pi(tmp_path, temp_milli, throttled):
    root = tmp_path / "sys"
    (root / "proc/device-tree").mkdir(parents=True)
    (root / "proc/device-tree/model").write_text("Raspberry Pi 5 Model B Rev 1.0\0")
    (root / "sys/class/thermal/thermal_zone0").mkdir(parents=True)
    (root / "sys/class/thermal/thermal_zone0/temp").write_text(f"{temp_milli}\n")
    (root / "sys/devices/platform/soc/soc:firmware").mkdir(parents=True)
    (root / "sys/devices/platform/soc/soc:firmware/get_throttled").write_text(f"{throttled}\n")
    return str(root)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_doctor_on_a_healthy_pi(tmp_path):
    r = run("doctor", "--sysroot", fake_pi(tmp_path, 48500, "0"), "--recordings", str(tmp_path / "rec"), "--port", str(free_port()))
    assert r.returncode == 0, r.stdout
    out = r.stdout
    assert "OK    machine: Raspberry Pi 5 Model B Rev 1.0" in out
    assert "OK    temperature: 48.5 °C" in out
    assert "OK    power: no under-voltage or throttling since boot" in out
    assert "OK    libjpeg-turbo" in out and "is writable, filesystem" in out and "hours at 1280x720@30" in out
    assert "OK    login: no password yet: one is generated at the first start and printed once" in out


def test_doctor_warns_about_a_readable_auth_file(tmp_path):
    auth = tmp_path / "rec" / ".blackbox" / "auth.toml"
    auth.parent.mkdir(parents=True)
    auth.write_text('user = "admin"\npassword_hash = "x"\n')
    auth.chmod(0o644)
    r = run("doctor", "--recordings", str(tmp_path / "rec"), "--port", str(free_port()))
    assert f"WARN  login: {auth} can be read by others (mode 644)" in r.stdout and f"fix: chmod 600 {auth}" in r.stdout
    auth.chmod(0o600)
    r = run("doctor", "--recordings", str(tmp_path / "rec"), "--port", str(free_port()))
    assert f"OK    login: password hash in {auth} (mode 600)" in r.stdout


def test_doctor_fails_on_under_voltage_heat_and_a_busy_port(tmp_path):
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run("doctor", "--sysroot", fake_pi(tmp_path, 86000, "50005"), "--recordings", str(tmp_path / "rec"), "--port", str(port))
    assert r.returncode == 1
    assert "FAIL  power: now: under-voltage, throttled (0x50005)" in r.stdout
    assert "fix: use the official 27 W USB-C supply" in r.stdout
    assert "WARN  temperature: 86.0 °C" in r.stdout
    assert f"FAIL  port: {port} is in use" in r.stdout
    r = run("doctor", "--sysroot", fake_pi(tmp_path / "b", 50000, "50000"), "--recordings", str(tmp_path / "rec"), "--port", str(free_port()))
    assert r.returncode == 0 and "WARN  power: since boot: under-voltage, throttled" in r.stdout


def test_doctor_reports_an_unwritable_recordings_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    r = run("doctor", "--recordings", str(blocker / "rec"), "--port", str(free_port()))
    assert r.returncode == 1 and "FAIL  recordings" in r.stdout


def test_snapshot_writes_valid_jpegs(tmp_path):
    r = run("snapshot", "-n", "3", "-o", str(tmp_path), "--size", "640x360@15")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 3
    for i, line in enumerate(lines, 1):
        path, size, count = line.split("  ")
        assert path == f"{tmp_path}/snap-{i}.jpg" and size == "640x360"
        data = open(path, "rb").read()
        assert int(count.split()[0]) == len(data)
        assert decode_jpeg(data).size == (640, 360)
    r = run("snapshot", "--camera", "x=v4l2:/dev/no-such-camera", "-o", str(tmp_path))
    assert r.returncode == 2 and "no picture from v4l2 /dev/no-such-camera" in r.stderr


def test_the_example_configuration_is_valid_and_flags_override_it(tmp_path):
    example = (ROOT / "blackbox.example.toml").read_text()
    config = tmp_path / "blackbox.toml"
    # The example's first camera is a USB webcam; here it becomes a test pattern.
    config.write_text(example.replace('source = "v4l2:/dev/v4l/by-id/usb-046d_HD_Pro_Webcam_C920-video-index0"', 'source = "testpattern"')
                      .replace('format = "mjpeg"', "").replace('root = "/var/lib/blackbox/recordings"', f'root = "{tmp_path}/rec"'))
    from conftest import Daemon
    d = Daemon("--config", str(config), "--quality", "70", recordings=str(tmp_path / "rec"))
    try:
        import json
        import urllib.request
        with urllib.request.urlopen(d.base + "/api/status", timeout=10) as r:
            cams = json.loads(r.read())["cameras"]
        assert [(c["id"], c["width"], c["height"], c["configuredFps"]) for c in cams] == [("front", 1920, 1080, 30), ("rear", 640, 480, 15)]
        assert cams[0]["quality"] == 85      # [[camera]] quality beats the --quality default for that camera
        assert cams[1]["quality"] == 70      # the flag beats the file's [capture] quality
    finally:
        assert d.stop() == 0


def test_bad_configuration_files_name_file_line_key_value_and_what_is_allowed(tmp_path):
    cases = [
        ("[server]\nport = 80800\n", ":2: [server] port = 80800: out of range; allowed: 1 to 65535"),
        ("[server]\nhost = \"x\"\nprot = 1\n", ":3: [server] prot = 1: unknown setting; allowed: host, port"),
        ("[recording]\nsegment_seconds = \"long\"\n", ":2: [recording] segment_seconds = \"long\": must be a number"),
        ("[recording]\nquota = \"lots\"\n", ":2: [recording] quota = \"lots\": not allowed; allowed: a size like 32G"),
        ("[capture]\noverlay = 1\n", ":2: [capture] overlay = 1: must be true or false"),
        ("[[camera]]\nid = \"a\"\n\n[[camera]]\nid = \"b\"\nquality = 0\n", ":6: [[camera]] quality = 0: out of range; allowed: 1 to 100"),
        ("[[camera]]\nid = \"a\"\nsource = \"webcam\"\n", ":3: [[camera]] source = \"webcam\": camera 'a': unknown source 'webcam'"),
        ("[cameras]\nid = 1\n", ":1: cameras: unknown setting; allowed tables: [auth], [[camera]], [capture], [log], [recording], [server]"),
        ("[server\n", ":1: not valid TOML"),
        ("[server]\npublic_live = \"yes\"\n", ":2: [server] public_live = \"yes\": must be true or false"),
        ("[auth]\npassword_hash = \"secret\"\n", ":2: [auth] password_hash = \"secret\": not allowed; allowed: a bcrypt hash"),
        ("[auth]\nuser = \"a b\"\n", ":2: [auth] user = \"a b\": not allowed; allowed: 1 to 64 characters"),
    ]
    for text, message in cases:
        path = tmp_path / "bad.toml"
        path.write_text(text)
        r = run("run", "--config", str(path), "--port", "0")
        assert r.returncode == 2, text
        assert f"{path}{message}" in r.stderr, (text, r.stderr)
    r = run("run", "--config", str(tmp_path / "missing.toml"))
    assert r.returncode == 2 and "cannot read the configuration file" in r.stderr
