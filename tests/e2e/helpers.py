"""What many end-to-end tests do with a running daemon: read its status, post to its API, find a free port, wait."""
import json
import os
import pathlib
import socket
import time
import urllib.error
import urllib.request


def status(daemon):
    """The whole `/api/status` answer."""
    with urllib.request.urlopen(daemon.base + "/api/status", timeout=10) as r:
        return json.loads(r.read())


def camera_status(daemon, index=0):
    """One camera's part of `/api/status` (the first by default)."""
    return status(daemon)["cameras"][index]


def get(daemon, path, method="GET", timeout=60):
    """(status, headers, body) of a request with the daemon's credentials; error answers are answers too."""
    req = urllib.request.Request(daemon.base + path, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def post(daemon, path, body=None):
    """(status, JSON answer) of a POST with a JSON body (or none), as the web UI sends it; raises on an error answer."""
    data = json.dumps(body).encode() if body is not None else b""
    req = urllib.request.Request(daemon.base + path, data=data, method="POST",
                                 headers={"Content-Type": "application/json", "X-Requested-With": "blackbox"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, json.loads(r.read())


def free_port():
    """A TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def refused(*args):
    """What `blackbox run --no-record ARGS` says on stderr as it refuses to start (it must refuse)."""
    import subprocess
    from conftest import BINARY
    r = subprocess.run([BINARY, "run", "--no-record", *map(str, args)], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0, r.stderr
    return r.stderr


def refused_config(folder, text):
    """What `blackbox run` says as it refuses a configuration file holding `text` (written into `folder`)."""
    config = folder / "blackbox.toml"
    config.write_text(text)
    return refused("--config", config)


def timeline(daemon, camera="front"):
    """`/api/timeline` of `camera` over the twelve hours around now: all a test recorded, also when its run crosses
    midnight (today's timeline, asked for just after midnight, left out the clip saved a second before it: CI failed so)."""
    now = time.time()
    span = "&".join(f"{name}={time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(at))}"
                    for name, at in (("from", now - 6 * 3600), ("to", now + 6 * 3600)))
    code, _, body = get(daemon, f"/api/timeline?camera={camera}&{span}")
    assert code == 200, body
    return json.loads(body)


def listening(port):
    """Whether something accepts TCP connections on 127.0.0.1:`port` now."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def wait_for(condition, timeout, what):
    """Returns once `condition()` holds; fails naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def h264_threads(daemon):
    """The daemon's H.264 encoder threads, counted by the kernel: h264-CAMERA and the x264 workers it starts (they
    inherit its name). A second encoder shows as twice as many."""
    import pathlib
    tasks = pathlib.Path(f"/proc/{daemon.proc.pid}/task")
    count = 0
    for task in tasks.iterdir():
        try:
            count += (task / "comm").read_text().strip().startswith("h264-")
        except FileNotFoundError:  # a thread that ended while we looked
            pass
    return count


def _stat_cpu_seconds(stat):
    """User and system CPU seconds in the text of a /proc stat file."""
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User and system CPU seconds the process `pid` has used, as the kernel counts them."""
    return _stat_cpu_seconds(open(f"/proc/{pid}/stat").read())


def thread_cpu_seconds(pid, named):
    """CPU seconds of the threads of `pid` whose name `named` accepts (a thread that ends meanwhile is left out)."""
    total = 0.0
    for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
        try:
            if named((task / "comm").read_text().strip()):
                total += _stat_cpu_seconds((task / "stat").read_text())
        except OSError:
            pass
    return total


def descriptors_and_video_mappings(pid):
    """(open descriptors, mappings of /dev/video nodes) of the process `pid`: what a leak of capture devices grows."""
    import os
    with open(f"/proc/{pid}/maps") as maps:
        mapped = sum(1 for line in maps if "/dev/video" in line)
    return len(os.listdir(f"/proc/{pid}/fd")), mapped
