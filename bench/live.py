#!/usr/bin/env python3
"""Bytes per second per live viewer, MJPEG (/stream) against H.264 (/stream.mp4), and the daemon's CPU with
0, 1 and 10 H.264 viewers, on the street clip re-timed to 30 fps and scaled to 1280x720 (a 720p30 camera
watching people walk), recording H.264 as a dashcam does by default.
    python3 bench/live.py [SECONDS]        (BLACKBOX_BIN: the binary; default .build/release/blackbox)"""
import base64
import pathlib
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from timeline import start  # noqa: E402
from helpers import cpu_seconds  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
CLIP = ROOT.parent / "shared" / "fixtures" / "street_768x576_10fps.avi"
SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 20


def cpu_with_viewers(pid, viewers, watch, seconds):
    """Share of a core the daemon `pid` uses over `seconds` while `viewers` threads run `watch(out, i)`."""
    out = {}
    threads = [threading.Thread(target=watch, args=(out, i)) for i in range(viewers)]
    for t in threads:
        t.start()
    time.sleep(2)
    before, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    used = (cpu_seconds(pid) - before) / (time.monotonic() - t0)
    for t in threads:
        t.join()
    return used


def read(url, auth, seconds, out, key):
    started = time.monotonic()
    total = 0
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": auth}), timeout=10) as r:
        first = None
        while time.monotonic() - started < seconds:
            chunk = r.read1(65536)
            if not chunk:
                break
            if first is None:
                first = time.monotonic()
            total += len(chunk)
    out[key] = total / max(0.001, time.monotonic() - (first or started))


def main():
    with tempfile.TemporaryDirectory() as tmp:
        clip = pathlib.Path(tmp) / "street720p30.y4m"
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(CLIP), "-vf", "setpts=N/30/TB,scale=1280:720", "-r", "30", "-pix_fmt", "yuv420p",
                        "-f", "yuv4mpegpipe", str(clip)], check=True)
        proc, port, password = start(pathlib.Path(tmp) / "rec", "--camera", f"front=file:{clip}", "--codec", "h264")
        auth = "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()
        base = f"http://127.0.0.1:{port}"
        try:
            time.sleep(3)
            rates = {}
            for kind, path in [("MJPEG", "/stream"), ("H.264", "/stream.mp4")]:
                read(base + path, auth, SECONDS, rates, kind)
            print(f"street clip 1280x720@30 (re-timed from 10 fps), {SECONDS:.0f} s per viewer")
            for kind, rate in rates.items():
                print(f"  {kind:6} {rate / 1e6 * 8:6.2f} Mbit/s per viewer ({rate / 1024:.0f} KiB/s)")
            print(f"  H.264 / MJPEG bytes: {rates['H.264'] / rates['MJPEG']:.3f}")
            for viewers in [0, 1, 10]:
                used = cpu_with_viewers(proc.pid, viewers, lambda out, i: read(base + "/stream.mp4", auth, SECONDS + 2, out, i), SECONDS)
                print(f"  daemon CPU with {viewers:2} H.264 viewers: {used * 100:5.1f} % of a core (recording H.264 all along)")
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
