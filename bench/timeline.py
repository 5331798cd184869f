#!/usr/bin/env python3
"""How fast the timeline finds a day, for archives of 1,500 and 15,000 files (or the sizes given).

Makes each archive from one real segment the daemon records (H.264 320x240@10), copied as 60 s
segments of one camera (1,440 a day), then times, against a daemon serving it: the first timeline of
the newest full day (every file head read), the same again (from the index), the first after a restart
(the index read from .blackbox/index.json), and the first page of /api/recordings.
    python3 bench/timeline.py [SIZES]      e.g. python3 bench/timeline.py 1500,15000   (BLACKBOX_BIN: the binary)"""
import base64
import datetime
import json
import os
import pathlib
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

BIN = os.environ.get("BLACKBOX_BIN", str(pathlib.Path(__file__).resolve().parents[1] / ".build/release/blackbox"))


def start(root, *args):
    proc = subprocess.Popen([BIN, "run", "--host", "127.0.0.1", "--port", "0", "--recordings", str(root), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    password, port = None, None
    while port is None:
        line = proc.stdout.readline()  # blocks until a whole line: select() would not see one already in the buffer
        if not line:
            raise RuntimeError(f"the daemon exited ({proc.wait()}) before serving")
        if "generated password for user 'admin': " in line:
            password = line.split("'admin': ", 1)[1].split()[0]
        if "serving http://" in line:
            port = int(line.split("http://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
    # Read on all along: a pipe nobody reads blocks the daemon's logging once 64 KiB wait in it.
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    return proc, port, password


def timed(port, password, path):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()})
    began = time.monotonic()
    with urllib.request.urlopen(req, timeout=120) as r:
        body = r.read()
    return time.monotonic() - began, json.loads(body)


def main():
    sizes = [int(s) for s in (sys.argv[1] if len(sys.argv) > 1 else "1500,15000").split(",")]
    work = pathlib.Path(tempfile.mkdtemp(prefix="blackbox-timeline-"))
    proc, _, _ = start(work / "template", "--camera", "cam=testpattern:320x240@10", "--segment-seconds", "10", "--fragment-seconds", "1")
    while len(list((work / "template").rglob("*.mp4"))) < 2:
        time.sleep(0.5)
    proc.terminate(); proc.wait()
    template = sorted((work / "template").rglob("*.mp4"))[0].read_bytes()
    at = template.find(b"mvhd") + 4
    for size in sizes:
        root = work / f"archive-{size}"
        end = datetime.datetime.combine(datetime.date.today(), datetime.time()).timestamp()  # today's midnight
        for i in range(size):
            t = end - (size - i) * 60
            folder = root / "cam" / time.strftime("%Y-%m-%d", time.localtime(t))
            folder.mkdir(parents=True, exist_ok=True)
            b = bytearray(template)
            for field in (at + 4, at + 12):
                b[field:field + 8] = struct.pack(">Q", int(t) + 2_082_844_800)
            path = folder / (time.strftime("%Y%m%d-%H%M%S", time.localtime(t)) + "_cam.mp4")
            path.write_bytes(b)
            os.utime(path, (t + 60, t + 60))
        day = time.strftime("%Y-%m-%d", time.localtime(end - 3600))
        proc, port, password = start(root, "--camera", "cam=testpattern:320x240@10", "--no-record")
        timed(port, password, "/api/status")  # the server's own first-request costs (JSON, thread pool)
        cold, answer = timed(port, password, f"/api/timeline?camera=cam&day={day}")
        warm, _ = timed(port, password, f"/api/timeline?camera=cam&day={day}")
        listing, _ = timed(port, password, "/api/recordings?limit=100")
        proc.terminate(); proc.wait()
        proc, port, _ = start(root, "--camera", "cam=testpattern:320x240@10", "--no-record")
        timed(port, password, "/api/status")
        restarted, _ = timed(port, password, f"/api/timeline?camera=cam&day={day}")
        proc.terminate(); proc.wait()
        print(f"{size:6} files: timeline of a day ({len(answer['files'])} files): first {cold * 1000:.0f} ms, again {warm * 1000:.0f} ms, "
              f"after a restart {restarted * 1000:.0f} ms; /api/recordings first 100 {listing * 1000:.0f} ms")


if __name__ == "__main__":
    main()
