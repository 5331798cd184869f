"""doctor, snapshot and configuration files, as a user runs them."""
import os
import pathlib
import socket
import subprocess

from conftest import BINARY, ROOT
from mjpeg import decode_jpeg
from helpers import camera_status, free_port, wait_for


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


def test_doctor_on_a_healthy_pi(tmp_path):
    r = run("doctor", "--sysroot", fake_pi(tmp_path, 48500, "0"), "--recordings", str(tmp_path / "rec"), "--port", str(free_port()))
    assert r.returncode == 0, r.stdout
    out = r.stdout
    assert "OK    machine: Raspberry Pi 5 Model B Rev 1.0" in out
    assert "OK    temperature: 48.5 °C" in out
    assert "OK    power: no under-voltage or throttling since boot" in out
    assert "OK    libjpeg-turbo" in out and "is writable, filesystem" in out and "hours at 1280x720@30" in out
    assert "OK    login: no password yet: one is generated at the first start and printed once" in out
    assert "OK    rtsp: GStreamer's RTSP server is ready for port 8554, Basic and Digest" in out


def test_doctor_warns_where_a_power_cut_costs_more(tmp_path):
    sysroot = fake_pi(tmp_path, 48500, "0")
    rec = tmp_path / "rec"
    mounts = pathlib.Path(sysroot) / "proc" / "mounts"
    # A FAT card for the recordings and a writable root: both warned about, each with its fix.
    mounts.write_text(f"/dev/mmcblk0p2 / ext4 rw,noatime 0 0\n/dev/sda1 {rec} vfat rw,relatime,fmask=0022 0 0\n")
    out = run("doctor", "--sysroot", sysroot, "--recordings", str(rec), "--port", str(free_port())).stdout
    assert "WARN  filesystem: vfat has no journal" in out and "fix: format the recordings disk as ext4" in out, out
    assert "WARN  root filesystem: / is writable without an overlay" in out and "Overlay File System" in out, out
    # ext4 that commits its journal every 30 s and writes data back unordered; a read-only (overlay) root.
    mounts.write_text(f"overlay / overlay rw 0 0\n/dev/sda1 {rec} ext4 rw,data=writeback,commit=30 0 0\n")
    out = run("doctor", "--sysroot", sysroot, "--recordings", str(rec), "--port", str(free_port())).stdout
    assert f"WARN  filesystem: {rec} is mounted data=writeback" in out and f"WARN  filesystem: {rec} commits its journal every 30 s" in out, out
    assert "root filesystem" not in out and "has no journal" not in out, out
    # ext4 with its defaults: nothing to warn about.
    mounts.write_text(f"overlay / overlay rw 0 0\n/dev/sda1 {rec} ext4 rw,relatime 0 0\n")
    out = run("doctor", "--sysroot", sysroot, "--recordings", str(rec), "--port", str(free_port())).stdout
    assert "filesystem:" not in out.replace("is writable, filesystem", ""), out


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
    # An auth file from before RTSP: Basic only until the password is set again.
    assert "WARN  rtsp: port 8554: Basic only; the account has no Digest HA1" in r.stdout and "fix: blackbox passwd" in r.stdout


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
    # A device that is not there fails at once, naming the devices there are (the daemon would wait for it).
    r = run("snapshot", "--camera", "x=v4l2:/dev/no-such-camera", "-o", str(tmp_path), timeout=5)
    assert r.returncode == 2 and "no such device: /dev/no-such-camera; video devices here:" in r.stderr


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
        assert [c["recordMode"] for c in cams] == ["continuous", "motion"]
        assert [c["orientation"] for c in cams] == ["0", "180"]   # the rear camera hangs upside down
        with urllib.request.urlopen(d.base + "/api/cameras", timeout=10) as r:
            zones = [c["motion"]["zones"] for c in json.loads(r.read())["cameras"]]
        assert zones[0] == [] and [z["kind"] for z in zones[1]] == ["exclude"] and zones[1][0]["points"][2] == {"x": 1.0, "y": 0.2}
    finally:
        assert d.stop() == 0


def test_bad_configuration_files_name_file_line_key_value_and_what_is_allowed(tmp_path):
    cases = [
        ("[server]\nport = 80800\n", ":2: [server] port = 80800: out of range; allowed: 1 to 65535"),
        ("[server]\nhost = \"x\"\nprot = 1\n", ":3: [server] prot = 1: unknown setting; allowed: host, max_connections, port"),
        ("[server]\ntrusted_proxies = [\"proxy.lan\"]\n", ":2: [server] trusted_proxies = \"proxy.lan\": not an IP address; allowed: IPv4 or IPv6"),
        ("[server]\nmax_connections = 2\n", ":2: [server] max_connections = 2: out of range; allowed: 8 to 100000"),
        ("[recording]\nsegment_seconds = \"long\"\n", ":2: [recording] segment_seconds = \"long\": must be a number"),
        ("[recording]\nquota = \"lots\"\n", ":2: [recording] quota = \"lots\": not allowed; allowed: a size like 32G"),
        ("[capture]\noverlay = 1\n", ":2: [capture] overlay = 1: must be true or false"),
        ("[[camera]]\nid = \"a\"\n\n[[camera]]\nid = \"b\"\nquality = 0\n", ":6: [[camera]] quality = 0: out of range; allowed: 1 to 100"),
        ("[[camera]]\nid = \"a\"\nsource = \"webcam\"\n", ":3: [[camera]] source = \"webcam\": camera 'a': unknown source 'webcam'"),
        ("[cameras]\nid = 1\n", ":1: cameras: unknown setting; allowed tables: [auth], [[camera]], [capture], [gpio], [gps], [gsensor], [hooks], [log], [motion], [mqtt], [recording], [rtsp], [server]"),
        ("[server\n", ":1: not valid TOML"),
        ("[server]\npublic_live = \"yes\"\n", ":2: [server] public_live = \"yes\": must be true or false"),
        ("[auth]\npassword_hash = \"secret\"\n", ":2: [auth] password_hash = \"secret\": not allowed; allowed: a bcrypt hash"),
        ("[auth]\nuser = \"a b\"\n", ":2: [auth] user = \"a b\": not allowed; allowed: 1 to 64 characters"),
        ("[gps]\ngpsd = \"gps.lan\"\ntiles = \"https://{s}.tile.example/{z}/{x}/{y}.png\"\n",
         ":3: [gps] tiles = \"https://{s}.tile.example/{z}/{x}/{y}.png\": not allowed; allowed: an http:// or https:// URL with {z}, {x} and {y}"),
    ]
    for text, message in cases:
        path = tmp_path / "bad.toml"
        path.write_text(text)
        r = run("run", "--config", str(path), "--port", "0")
        assert r.returncode == 2, text
        assert f"{path}{message}" in r.stderr, (text, r.stderr)
    r = run("run", "--config", str(tmp_path / "missing.toml"))
    assert r.returncode == 2 and "cannot read the configuration file" in r.stderr


def test_doctor_accepts_the_port_of_the_running_blackbox_and_refuses_another_program(tmp_path):
    from conftest import Daemon
    d = Daemon("--camera", "front=testpattern:160x120@5", "--no-record", recordings=str(tmp_path / "rec"))
    try:
        r = run("doctor", "--recordings", str(tmp_path / "rec"), "--port", str(d.port))
        assert f"OK    port: {d.port} is served by the blackbox daemon running now" in r.stdout, r.stdout
    finally:
        assert d.stop() == 0
    with socket.socket() as other:
        other.bind(("0.0.0.0", 0))
        other.listen()
        port = other.getsockname()[1]
        r = run("doctor", "--recordings", str(tmp_path / "rec"), "--port", str(port))
        assert f"FAIL  port: {port} is in use by another program" in r.stdout, r.stdout


def test_doctor_and_start_report_limits_that_cannot_work_on_the_disk(tmp_path):
    config = tmp_path / "b.toml"
    config.write_text("[recording]\nquota = \"1M\"\nevent_quota_percent = 1\n")
    r = run("doctor", "--config", str(config), "--recordings", str(tmp_path / "rec"), "--port", str(free_port()))
    assert "WARN  retention: the event clips' share of the quota (0 MiB) cannot hold one clip" in r.stdout, r.stdout


def test_verify_tells_writing_from_damaged_and_takes_the_recordings_folder(tmp_path):
    from conftest import Daemon
    rec = tmp_path / "rec"
    d = Daemon("--camera", "front=testpattern:320x240@15", "--segment-seconds", "30", recordings=str(rec))
    try:
        # A second of fragments in the file being written.
        wait_for(lambda: camera_status(d)["recording"]["framesWritten"] >= 30, 20, "two seconds recorded")
        r = run("recordings", "verify", "--recordings", str(rec))
        assert r.returncode == 0, r.stdout + r.stderr
        assert "WRITING" in r.stdout and ".mp4.part" in r.stdout and "0 damaged" in r.stdout
    finally:
        assert d.stop() == 0
    r = run("recordings", "verify", "--recordings", str(rec))
    assert r.returncode == 0 and "OK " in r.stdout and "WRITING" not in r.stdout
    # A damaged file is still a failure.
    victim = next(rec.rglob("*.mp4"))
    data = bytearray(victim.read_bytes())
    # The first picture's first two bytes inverted: H.264's NAL unit length now runs past the sample (a JPEG would lose
    # its start marker).
    first_sample = data.index(b"mdat") + 4
    data[first_sample:first_sample + 2] = bytes(255 - b for b in data[first_sample:first_sample + 2])
    victim.write_bytes(bytes(data))
    r = run("recordings", "verify", str(victim))
    assert r.returncode == 1 and "DAMAGED" in r.stdout
    r = run("recordings", "verify", "--recordings", str(tmp_path / "nothing-here"))
    assert r.returncode == 2 and "no such file or folder" in r.stderr


def test_install_service_prints_every_step_and_a_unit_that_runs_the_installed_binary():
    r = run("install-service", "--print")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "ExecStart=/usr/local/bin/blackbox run --config /etc/blackbox/blackbox.toml --recordings /var/lib/blackbox/recordings" in out
    assert "LimitNOFILE=65536" in out
    for step in [f"install -D -m 0755 {os.path.realpath(BINARY)} /usr/local/bin/blackbox", "useradd --system --no-create-home", "usermod --append --groups video blackbox",
                 "install -d -m 0750 -o blackbox -g blackbox /var/lib/blackbox/recordings", "writes /etc/blackbox/blackbox.toml",
                 "writes /etc/systemd/system/blackbox.service", "systemctl daemon-reload", "systemctl enable --now blackbox"]:
        assert step in out, step


def test_a_missing_default_configuration_is_not_an_error(tmp_path):
    import os
    from conftest import Daemon
    assert not os.path.exists("/etc/blackbox/blackbox.toml"), "this test needs a machine without /etc/blackbox/blackbox.toml"
    d = Daemon("--config", "/etc/blackbox/blackbox.toml", "--camera", "front=testpattern:160x120@5", "--no-record",
               recordings=str(tmp_path / "rec"))
    assert d.stop() == 0
