"""No client can stop the recorder: a connection flood, slowloris and stalled viewers against a daemon
whose open-file limit is 1,024, while a health check and a logged-in viewer from the same address go on.

The attack keeps 2,000 idle sockets, 300 slowloris sockets (one header byte every 5 s) and 100 /stream
readers that never read open for two minutes, reopening what the server closes (at most 200 new
connections a second, so the test measures the daemon and not a reconnect storm)."""
import datetime
import http.client
import json
import multiprocessing
import os
import resource
import selectors
import socket
import subprocess
import threading
import time
import urllib.request

from conftest import Daemon
from helpers import wait_for

ATTACK_SECONDS = float(os.environ.get("BLACKBOX_ATTACK_SECONDS", "120"))
IDLE, SLOWLORIS, STALLED = 2000, 300, 100
TCP_CLOSE, TCP_CLOSE_WAIT = 7, 8  # tcpi_state values of linux/tcp_states.h


def limit_files_to_1024():
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


FORK = multiprocessing.get_context("fork")


class Attack(FORK.Process):
    """Keeps the three kinds of hostile connection open, reopening closed ones; records how long
    each slowloris connection lived before the server closed it. A process of its own: its loop over
    2,400 sockets would otherwise hold the interpreter's lock against the health checks it is measured by."""

    def __init__(self, port, auth):
        super().__init__(daemon=True)
        self.port, self.auth = port, auth
        self.stop_flag = FORK.Event()
        self.outcome, self.sent_outcome = FORK.Pipe(duplex=False)
        self.sel = selectors.DefaultSelector()
        self.socks = {}  # socket -> [kind, opened, next byte time]
        self.slowloris_lifetimes = []
        self.closed_by_server = {"idle": 0, "slowloris": 0, "stalled": 0}
        self.opened = 0

    def open(self, kind):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.setblocking(False)
        try:
            s.connect_ex(("127.0.0.1", self.port))
        except OSError:
            s.close()
            return
        now = time.monotonic()
        self.opened += 1
        self.socks[s] = [kind, now, now + 5]
        self.sel.register(s, selectors.EVENT_WRITE if kind == "stalled" else selectors.EVENT_READ)

    def drop(self, s):
        if s in self.sel.get_map():
            self.sel.unregister(s)
        del self.socks[s]
        s.close()

    def run(self):
        want = {"idle": IDLE, "slowloris": SLOWLORIS, "stalled": STALLED}
        per_second = {"idle": 130, "slowloris": 50, "stalled": 20}
        budget, budget_at = {}, 0.0
        while not self.stop_flag.is_set():
            now = time.monotonic()
            if now - budget_at >= 1:
                budget, budget_at = dict(per_second), now
            counts = {k: 0 for k in want}
            for kind, _, _ in self.socks.values():
                counts[kind] += 1
            for kind, n in want.items():
                while counts[kind] < n and budget[kind] > 0:
                    self.open(kind)
                    counts[kind] += 1
                    budget[kind] -= 1
            for key, events in self.sel.select(timeout=0.2):
                s = key.fileobj
                kind, opened, _ = self.socks[s]
                if kind == "stalled":
                    # Connected: ask for the stream once, then never read a byte (and stop watching it).
                    self.sel.unregister(s)
                    try:
                        s.send(f"GET /stream HTTP/1.1\r\nHost: x\r\nAuthorization: {self.auth}\r\n\r\n".encode())
                    except OSError:
                        self.drop(s)
                    continue
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    self.closed_by_server[kind] += 1
                    if kind == "slowloris":
                        self.slowloris_lifetimes.append(time.monotonic() - opened)
                    self.drop(s)
            # Slowloris sends one byte every 5 s; a stalled reader is seen closed in its TCP state
            # (the server resets it: it cannot read the FIN behind the data it never reads).
            now = time.monotonic()
            for s, entry in list(self.socks.items()):
                kind, opened, next_time = entry
                if now < next_time or kind == "idle":
                    continue
                entry[2] = now + (5 if kind == "slowloris" else 1)
                try:
                    if kind == "slowloris":
                        s.send(b"G")
                    elif s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0] in (TCP_CLOSE, TCP_CLOSE_WAIT):
                        raise ConnectionResetError
                except OSError:
                    self.closed_by_server[kind] += 1
                    if kind == "slowloris":
                        self.slowloris_lifetimes.append(now - opened)
                    self.drop(s)
        for s in list(self.socks):
            self.drop(s)
        self.sent_outcome.send((self.opened, self.closed_by_server, self.slowloris_lifetimes))

    def results(self):
        """What the attack process counted: (opened, closed by the server per kind, slowloris lifetimes)."""
        assert self.outcome.poll(30), "the attack process sent no results"
        return self.outcome.recv()


class Viewer(threading.Thread):
    """A logged-in viewer counting the frames it receives."""

    def __init__(self, base, auth):
        super().__init__(daemon=True)
        self.base, self.auth = base, auth
        self.frames = []
        self.stop_flag = threading.Event()

    def run(self):
        req = urllib.request.Request(self.base + "/stream", headers={"Authorization": self.auth})
        with urllib.request.urlopen(req, timeout=10) as r:
            while not self.stop_flag.is_set():
                line = r.readline()
                if line.lower().startswith(b"content-length:"):
                    n = int(line.split(b":")[1])
                    r.readline()
                    r.read(n)
                    self.frames.append(time.monotonic())


def health_checks(port, seconds):
    """One new connection a second asking /healthz; returns the answer times and the failures (time, phase, problem)."""
    failures, answered = [], []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started, phase = time.monotonic(), "connect"
        # Two seconds: `make test` runs three test files at once on CI's two CPUs, and in one run the daemon's event
        # loops waited 1.3 s of 2 for a CPU (SchedWatch), so one answer of 120 took over a second. A stalled or
        # blocked event loop still fails every check.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2.0)
        try:
            conn.connect()
            phase = "answer"
            conn.request("GET", "/healthz")
            r = conn.getresponse()
            r.read()
            assert r.status == 200, r.status
            answered.append(time.monotonic() - started)
        except Exception as e:  # noqa: BLE001 - every failure is recorded and reported
            failures.append((round(started, 1), phase, repr(e)))
        finally:
            conn.close()
        time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
    return answered, failures


class SchedWatch(threading.Thread):
    """Samples, twice a second, how long each of the daemon's threads ran and waited runnable for a CPU
    (/proc/PID/task/TID/schedstat), so a failed health check says whether the daemon was starved of CPU."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.samples, self.stop_flag = pid, [], threading.Event()

    def sample(self):
        threads = {}
        for tid in os.listdir(f"/proc/{self.pid}/task"):
            try:
                comm = open(f"/proc/{self.pid}/task/{tid}/comm").read().strip()
                run, wait, _ = map(int, open(f"/proc/{self.pid}/task/{tid}/schedstat").read().split())
            except (OSError, ValueError):
                continue
            threads[tid] = (comm, run, wait)
        return time.monotonic(), threads

    def run(self):
        while not self.stop_flag.wait(0.5):
            try:
                self.samples.append(self.sample())
            except OSError:
                return

    def starved(self, t):
        """Whether, in the 2 s from `t`, the daemon's event loops (NIO-*) spent half the time or more runnable but
        waiting for a CPU: the machine starved them. A loop blocked in a call, or busy in a handler, does not wait."""
        window = [s for s in self.samples if t - 0.5 <= s[0] <= t + 2.0]
        if len(window) < 2:
            return False
        (t0, a), (t1, b) = window[0], window[-1]
        waits = [(b[k][2] - a[k][2]) / 1e9 for k in b if k in a and b[k][0].startswith("NIO-")]
        return bool(waits) and max(waits) >= (t1 - t0) / 2

    def around(self, t):
        """The threads that waited longest for a CPU in the 2 s from `t`, with their run and wait ms."""
        window = [s for s in self.samples if t - 0.5 <= s[0] <= t + 2.0]
        if len(window) < 2:
            return "no samples"
        (t0, a), (t1, b) = window[0], window[-1]
        rows = sorted(((b[k][2] - a[k][2]) / 1e6, (b[k][1] - a[k][1]) / 1e6, b[k][0]) for k in b if k in a)[::-1][:6]
        load = open("/proc/loadavg").read().split()[0]
        return f"over {t1 - t0:.1f} s (load {load}): " + ", ".join(f"{name} waited {w:.0f} ms ran {r:.0f} ms" for w, r, name in rows)


def segments(root):
    out = []
    for p in sorted((root / "front").rglob("*.mp4")):
        r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration:format_tags=date", "-of", "json", str(p)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and r.stderr == "", (p, r.stderr)
        fmt = json.loads(r.stdout)["format"]
        out.append((p, datetime.datetime.fromisoformat(fmt["tags"]["date"]).timestamp(), float(fmt["duration"])))
    return out


def test_flood_slowloris_and_stalled_viewers_do_not_stop_recording_or_live_view():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    d = Daemon("--camera", "front=testpattern:640x360@30", "--segment-seconds", "10", preexec_fn=limit_files_to_1024)
    try:
        with open(f"/proc/{d.proc.pid}/limits") as f:
            assert any(line.startswith("Max open files") and line.split()[3] == "1024" for line in f)
        time.sleep(3)
        base_fds, base_rss = open_fds(d.proc.pid), rss_kib(d.proc.pid)

        viewer = Viewer(d.base, d.auth)
        viewer.start()
        # The viewer is streaming before the attack begins: a connection whose request has not arrived yet is one the
        # server may close to make room (as it would any idle one), and the test is about a viewer already watching.
        wait_for(lambda: len(viewer.frames) >= 3, 10, "the viewer's first frames")
        watch = SchedWatch(d.proc.pid)
        watch.start()
        attack = Attack(d.port, d.auth)
        attack.start()
        answered, failures = health_checks(d.port, ATTACK_SECONDS)
        watch.stop_flag.set()
        viewer.stop_flag.set()
        attack.stop_flag.set()
        opened, closed_by_server, slowloris_lifetimes = attack.results()
        attack.join(30)
        viewer.join(15)

        # /healthz answered every second of the attack, within two seconds.
        slowest = sorted(answered)[-3:]
        print(f"health checks: {len(answered)} answered, slowest {[round(x, 3) for x in slowest]} s")
        # A check the machine starved (the event loops waited a CPU for half the time or more: SchedWatch) is not the
        # daemon's; one run of CI's three test files at once on two CPUs starved two of 118 that way. At most a few.
        starved = [f for f in failures if watch.starved(f[0])]
        print(f"health checks the machine starved: {[(f, watch.around(f[0])) for f in starved]}")
        assert len(starved) <= len(answered) // 20 and len(failures) == len(starved), (
            f"{len(failures)} of {len(answered) + len(failures)} health checks failed, {len(starved)} of them starved: "
            + "; ".join(f"{f} - {watch.around(f[0])}" for f in failures[:5]))
        # The logged-in viewer kept the camera's rate (first and last 2 s left out: start-up, tear-down).
        span = [t for t in viewer.frames if viewer.frames[0] + 2 <= t <= viewer.frames[-1] - 2]
        fps = (len(span) - 1) / (span[-1] - span[0])
        assert fps >= 29, f"viewer got {fps:.1f} fps"
        # The attack really reached its size, and the server closed every kind of hostile connection itself.
        assert opened >= IDLE + SLOWLORIS + STALLED, opened
        assert closed_by_server["slowloris"] >= SLOWLORIS and closed_by_server["idle"] >= IDLE, closed_by_server
        assert closed_by_server["stalled"] >= STALLED, closed_by_server
        assert max(slowloris_lifetimes) < 15, max(slowloris_lifetimes)

        with urllib.request.urlopen(d.base + "/api/status", timeout=5) as r:
            status = json.loads(r.read())
        cam = status["cameras"][0]
        assert cam["recording"].get("lastError") is None and cam["recording"]["state"] == "recording"
        assert cam["recording"]["droppedFrames"] == 0
        assert cam["viewerSkippedFrames"] > 0  # the stalled viewers skipped frames, and that was counted
        conns = status["connections"]
        assert conns["limit"] <= 1024 - 256 and conns["timedOut"] > 0 and conns["evicted"] > 0

        # Descriptors and memory come back once the attack is over.
        deadline = time.monotonic() + 30
        while open_fds(d.proc.pid) > base_fds + 4 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert open_fds(d.proc.pid) <= base_fds + 4, (base_fds, open_fds(d.proc.pid))
        assert rss_kib(d.proc.pid) < base_rss * 1.5 + 20_000, (base_rss, rss_kib(d.proc.pid))
    finally:
        assert d.stop() == 0
        log = d.log()
        print(f"daemon log: {len(log)} bytes, {log.count(chr(10))} lines")
        print(log[-3000:])

    # Recording had no gap: every 10 s segment starts where the previous one ended, and decodes cleanly.
    segs = segments(d.recordings)
    assert len(segs) >= ATTACK_SECONDS / 10
    for (p1, s1, d1), (p2, s2, _) in zip(segs, segs[1:]):
        assert abs(s2 - (s1 + d1)) < 0.2, f"gap between {p1.name} and {p2.name}: {s2 - (s1 + d1):.3f} s"
    for p, _, _ in segs:
        r = subprocess.run(["ffmpeg", "-v", "error", "-i", str(p), "-f", "null", "-"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and r.stderr == "", (p, r.stderr)
