#!/usr/bin/env python3
"""Whether anything grows while the daemon runs for a long time with everything in use at once: two cameras (the street
clip at 720p30 recording H.264, a 640x360@15 test pattern), one MJPEG viewer, one live H.264 (MSE) viewer, one RTSP
client (ffmpeg) and an event every two minutes. Every minute it prints the resident memory (anonymous), the threads,
the descriptors and the frames dropped; at the end the growth of anonymous memory per hour from the second half of the
run (a straight line through the minutes), which is what a plateau must keep near zero.
    python3 bench/soak.py [MINUTES]        (BLACKBOX_BIN: the binary; default .build/release/blackbox; default 60 minutes)"""
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from daemon import Daemon, free_port, memory, street_720p30  # noqa: E402

MINUTES = float(sys.argv[1]) if len(sys.argv) > 1 else 60


def keep_reading(daemon, path, stop):
    """Reads `path` until `stop`, reconnecting when the stream ends."""
    while not stop.is_set():
        try:
            with daemon.get(path, timeout=30) as r:
                while not stop.is_set() and r.read1(65536):
                    pass
        except OSError:
            time.sleep(1)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        clip = street_720p30(work)
        rtsp_port = free_port()
        daemon = Daemon(work, clip, "h264", extra=["--camera", "rear=testpattern:640x360@15"], rtsp_port=rtsp_port)
        stop = threading.Event()
        readers = [threading.Thread(target=keep_reading, args=(daemon, path, stop), daemon=True) for path in ("/stream", "/stream.mp4")]
        for r in readers:
            r.start()
        rtsp = subprocess.Popen(["ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i",
                                 f"rtsp://admin:{daemon.password}@127.0.0.1:{rtsp_port}/front", "-c", "copy", "-f", "null", "-"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pid = daemon.proc.pid
        rows = []
        try:
            print(f"{'minute':>6}{'RSS MB':>8}{'anon MB':>9}{'threads':>8}{'fds':>5}{'dropped':>9}")
            began = time.monotonic()
            for minute in range(1, int(MINUTES) + 1):
                if minute % 2 == 0:
                    req = urllib.request.Request(f"http://127.0.0.1:{daemon.port}/api/events", data=b'{"reason":"soak"}', method="POST",
                                                 headers={"Authorization": daemon.auth, "Content-Type": "application/json"})
                    urllib.request.urlopen(req, timeout=10).close()
                time.sleep(max(0, began + minute * 60 - time.monotonic()))
                rss, anon, _ = memory(pid)
                threads = len(os.listdir(f"/proc/{pid}/task"))
                fds = len(os.listdir(f"/proc/{pid}/fd"))
                with daemon.get("/api/status") as r:
                    dropped = sum(c["framesDropped"] for c in json.load(r)["cameras"])
                rows.append((minute, anon))
                print(f"{minute:6}{rss:8.1f}{anon:9.1f}{threads:8}{fds:5}{dropped:9}", flush=True)
        finally:
            stop.set()
            rtsp.terminate()
            daemon.stop()
        late = rows[len(rows) // 2:]
        if len(late) >= 2:
            n = len(late)
            mx = sum(m for m, _ in late) / n
            my = sum(a for _, a in late) / n
            slope = sum((m - mx) * (a - my) for m, a in late) / sum((m - mx) ** 2 for m, _ in late)
            print(f"anonymous memory over the second half: {slope * 60:+.1f} MB/h")


if __name__ == "__main__":
    main()
