"""Several hosts: three "Pis" and a "central" NVR host, each in its own network namespace on one bridge. The central
host pulls all three cameras at once for a minute with ffmpeg and GStreamer and records them; one Pi's daemon is
killed and restarted meanwhile, and the central recorder (restarting ffmpeg when it ends, as Frigate and other NVRs
do) picks it up again while the other two go on undisturbed. A third Pi also pushes its stream to an ffmpeg RTSP
listener on the central host. Debian's VLC is built without live555 and cannot play RTSP, so it is not among the
clients (the note says so)."""
import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time


from conftest import Daemon
from test_rtsp import probe

HERE = pathlib.Path(__file__).resolve().parent
SUDO = [] if os.geteuid() == 0 else ["sudo", "-n"]
FPS = 15
MINUTE = 60


def run(*args):
    out = subprocess.run([*SUDO, *args], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, (args, out.stderr)


class Hosts:
    """Network namespaces: `central` with a bridge at 10.77.0.1, and Pis at 10.77.0.11, .12, .13."""

    def __init__(self, count):
        tag = os.getpid() % 100000
        self.central = f"bbc{tag}"
        self.pis = [f"bbp{tag}-{i}" for i in range(1, count + 1)]
        self.addresses = [f"10.77.0.{10 + i}" for i in range(1, count + 1)]
        self.central_address = "10.77.0.1"

    def __enter__(self):
        run("ip", "netns", "add", self.central)
        run("ip", "-n", self.central, "link", "set", "lo", "up")
        run("ip", "-n", self.central, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", self.central, "addr", "add", f"{self.central_address}/24", "dev", "br0")
        run("ip", "-n", self.central, "link", "set", "br0", "up")
        for i, (pi, address) in enumerate(zip(self.pis, self.addresses)):
            run("ip", "netns", "add", pi)
            run("ip", "-n", pi, "link", "set", "lo", "up")
            # Made inside the Pi's namespace, its peer moved to the central one: no name is ever taken on the host.
            run("ip", "-n", pi, "link", "add", "eth0", "type", "veth", "peer", "name", f"port{i}", "netns", self.central)
            run("ip", "-n", pi, "addr", "add", f"{address}/24", "dev", "eth0")
            run("ip", "-n", pi, "link", "set", "eth0", "up")
            run("ip", "-n", self.central, "link", "set", f"port{i}", "master", "br0")
            run("ip", "-n", self.central, "link", "set", f"port{i}", "up")
        return self

    def __exit__(self, *exc):
        for ns in [*self.pis, self.central]:
            subprocess.run([*SUDO, "ip", "netns", "del", ns], capture_output=True, timeout=30)

    def on(self, ns, *args):
        return [*SUDO, "ip", "netns", "exec", ns, *args]


def status(hosts, pi, d):
    """/api/status of the daemon on `pi`, asked from that host."""
    code = ("import json, sys, urllib.request; r = urllib.request.Request(sys.argv[1], headers={'Authorization': sys.argv[2]}); "
            "print(urllib.request.urlopen(r, timeout=10).read().decode())")
    out = subprocess.run(hosts.on(pi, sys.executable, "-c", code, f"http://127.0.0.1:{d.port}/api/status", d.auth),
                         capture_output=True, text=True, timeout=30)
    return json.loads(out.stdout)


class Recorder(threading.Thread):
    """The central host's recorder of one camera: ffmpeg copying the RTSP stream into files until `until`,
    started again a second after it ended early (the camera went away)."""

    def __init__(self, hosts, address, transport, folder, name, until):
        super().__init__(daemon=True)
        self.hosts, self.address, self.transport, self.until = hosts, address, transport, until
        self.folder, self.name = folder, name
        self.files, self.errors = [], []

    def run(self):
        while time.monotonic() < self.until - 2:
            out = self.folder / f"{self.name}-{len(self.files)}.mkv"
            remaining = self.until - time.monotonic()
            p = subprocess.run(self.hosts.on(self.hosts.central, "ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", self.transport,
                                             "-timeout", "3000000", "-i", self.address, "-t", f"{remaining:.1f}", "-c", "copy", "-y", str(out)),
                               capture_output=True, text=True, timeout=MINUTE + 60)
            if out.exists() and out.stat().st_size > 0:
                self.files.append(out)
            if p.returncode != 0:
                self.errors.append(p.stderr.strip()[-300:])
                time.sleep(1)


def test_a_central_host_records_three_pis_at_once_and_survives_one_restarting(tmp_path):
    with Hosts(3) as hosts:
        addresses = hosts.addresses
        central = hosts.central_address
        push_target = f"rtsp://{central}:8555/pi3"

        def start(i):
            extra = ["--rtsp-publish", push_target] if i == 2 else []
            return Daemon("--camera", f"front=testpattern:640x360@{FPS}", "--rtsp-port", "8554", *extra,
                          recordings=tmp_path / f"pi{i + 1}", wrapper=hosts.on(hosts.pis[i]), host="0.0.0.0")

        listener = subprocess.Popen(hosts.on(hosts.central, "ffmpeg", "-nostdin", "-v", "error", "-rtsp_flags", "listen", "-timeout", "60",
                                             "-i", push_target, "-t", "20", "-c", "copy", "-y", str(tmp_path / "pushed.mkv")),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        daemons = [start(i) for i in range(3)]
        try:
            urls = [f"rtsp://admin:{d.password}@{a}:8554/front" for d, a in zip(daemons, addresses)]
            # From the central host: a keyframe within 1.5 s of connecting, for every Pi.
            for d, a in zip(daemons, addresses):
                out = subprocess.run(hosts.on(hosts.central, sys.executable, str(HERE / "rtsp.py"), a, "8554", "front", "admin", d.password),
                                     capture_output=True, text=True, timeout=30)
                assert out.stdout.strip() != "None" and float(out.stdout) < 1.5, (a, out.stdout, out.stderr)
            # A wrong password gets nothing.
            wrong = subprocess.run(hosts.on(hosts.central, "ffprobe", "-v", "error", f"rtsp://admin:wrong@{addresses[0]}:8554/front"),
                                   capture_output=True, text=True, timeout=30)
            assert wrong.returncode != 0 and "401" in wrong.stderr, wrong.stderr

            until = time.monotonic() + MINUTE
            recorders = [Recorder(hosts, u, t, tmp_path, f"ffmpeg-pi{i + 1}", until) for i, (u, t) in enumerate(zip(urls, ["udp", "tcp", "tcp"]))]
            gst = [subprocess.Popen(hosts.on(hosts.central, "timeout", "-s", "INT", str(MINUTE), "gst-launch-1.0", "-e", "-q", "rtspsrc",
                                             f"location=rtsp://{a}:8554/front", "user-id=admin", f"user-pw={d.password}", "latency=0",
                                             # The sender's RTP timestamps, not arrival times smoothed by the jitter
                                             # buffer: on a busy machine those bunched into equal timestamps.
                                             "buffer-mode=none", "protocols=tcp", "!", "rtph264depay", "!", "h264parse", "!", "matroskamux", "!", "filesink",
                                             f"location={tmp_path / f'gst-pi{i + 1}.mkv'}"),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                   for i, (d, a) in enumerate(zip(daemons, addresses)) if i != 1]
            for r in recorders:
                r.start()
            time.sleep(20)  # a third of the minute recorded, then pi2's daemon dies hard
            s = status(hosts, hosts.pis[0], daemons[0])
            assert s["rtsp"]["streams"][0]["clients"] == 2, s["rtsp"]
            daemons[1].stop(signal.SIGKILL)
            time.sleep(4)
            daemons[1] = start(1)
            for r in recorders:
                r.join(MINUTE + 60)
            for p in gst:
                p.wait(30)

            # The two Pis that ran all along: one file each, a full minute at the camera's rate.
            for name in ["ffmpeg-pi1-0", "ffmpeg-pi3-0", "gst-pi1", "gst-pi3"]:
                frames, width, height, fps, errors = probe(tmp_path / f"{name}.mkv")
                assert (width, height) == (640, 360) and errors == "", (name, errors)
                assert abs(fps - FPS) <= FPS * 0.02, (name, fps)
                assert frames >= (MINUTE - 3) * FPS, (name, frames)
            assert [len(r.files) for r in recorders][::2] == [1, 1], [r.errors for r in recorders]
            # The restarted Pi: recorded before it died and again after it came back, every file decodable.
            pi2 = recorders[1]
            assert len(pi2.files) >= 2, pi2.errors
            for path in pi2.files:
                frames, width, height, fps, errors = probe(path)
                assert (width, height) == (640, 360) and errors == "" and abs(fps - FPS) <= FPS * 0.02, (path, errors, fps)
            assert probe(pi2.files[0])[0] >= 18 * FPS
            assert probe(pi2.files[-1])[0] >= (MINUTE - 20 - 4 - 6) * FPS

            # The pushed stream reached the listener on the central host and decodes.
            listener.wait(30)
            frames, width, height, fps, errors = probe(tmp_path / "pushed.mkv")
            assert (width, height) == (640, 360) and errors == "" and frames >= 15 * FPS, (frames, errors)
            assert status(hosts, hosts.pis[2], daemons[2])["rtsp"]["publish"][0]["framesSent"] >= 15 * FPS
        finally:
            running = [d for d in daemons if d.proc.poll() is None]
            codes = [d.stop() for d in running]
            listener.kill()
            assert codes == [0] * len(running), f"exit codes at SIGTERM: {codes}"
