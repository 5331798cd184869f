#!/usr/bin/env python3
"""What the GPS costs while recording: bytes per hour of the camm track in the files (its samples, its traf boxes
in each fragment, its trak in each file's header) and CPU, as the gpsd client thread's time per report and the
whole daemon's time per frame with and without a GPS. A real gpsd is fed a 1 Hz drive as NMEA (as a USB receiver
sends it); the camera is the 720p30 test pattern recording H.264, the product's default.
    python3 bench/gps.py [SECONDS]        (BLACKBOX_BIN: the binary; default .build/release/blackbox)"""
import base64
import json
import pathlib
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from timeline import start  # noqa: E402
from helpers import cpu_seconds, thread_cpu_seconds  # noqa: E402
from nmea import GPSD, Drive, feed  # noqa: E402

SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 60
FPS = 30


def boxes(data, start=0, end=None):
    """(type, payload start, box end) of each box in data[start:end]."""
    end = len(data) if end is None else end
    while start + 8 <= end:
        size, kind = struct.unpack(">I4s", data[start:start + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[start + 8:start + 16])[0], 16
        elif size == 0:
            size = end - start
        yield kind.decode("latin-1"), start + header, start + size
        start += size


def track_bytes(path, entry=b"camm"):
    """(trak bytes, traf bytes, sample bytes) of the track whose sample entry is `entry` in one fragmented MP4."""
    data = path.read_bytes()
    trak_bytes = traf_bytes = sample_bytes = 0
    track_id = None
    for kind, body, end in boxes(data):
        if kind == "moov":
            for k, b, e in boxes(data, body, end):
                if k == "trak" and entry in data[b:e]:
                    trak_bytes += e - b + 8
                    for k2, b2, e2 in boxes(data, b, e):
                        if k2 == "tkhd":
                            version = data[b2]
                            track_id = struct.unpack(">I", data[b2 + (20 if version == 1 else 12):][:4])[0]
        elif kind == "moof" and track_id is not None:
            for k, b, e in boxes(data, body, end):
                if k != "traf":
                    continue
                parts = {k2: b2 for k2, b2, _ in boxes(data, b, e)}
                if struct.unpack(">I", data[parts["tfhd"] + 4:][:4])[0] != track_id:
                    continue
                traf_bytes += e - b + 8
                t = parts["trun"]
                flags = int.from_bytes(data[t + 1:t + 4], "big")
                count = struct.unpack(">I", data[t + 4:t + 8])[0]
                at = t + 8 + (4 if flags & 0x1 else 0) + (4 if flags & 0x4 else 0)
                fields = [f for f in (0x100, 0x200, 0x400, 0x800) if flags & f]
                for _ in range(count):
                    for f in fields:
                        if f == 0x200:
                            sample_bytes += struct.unpack(">I", data[at:at + 4])[0]
                        at += 4
    return trak_bytes, traf_bytes, sample_bytes


def track_cost(files, entry=b"camm"):
    """(seconds recorded, trak bytes, traf bytes, sample bytes) of the `entry` track (camm, mp4a) over `files`."""
    recorded = sum(float(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(f)],
                                        capture_output=True, text=True).stdout.strip() or 0) for f in files)
    trak = traf = samples = 0
    for f in files:
        a, b, c = track_bytes(f, entry)
        trak, traf, samples = trak + a, traf + b, samples + c
    return recorded, trak, traf, samples


def get(port, password, path):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                 headers={"Authorization": "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def run(work, gps):
    """Records SECONDS with or without a GPS fed a drive: (daemon CPU s, gpsd-thread CPU s, reports, files)."""
    root = work / ("with" if gps else "without")
    args = ["--camera", f"front=testpattern:1280x720@{FPS}", "--segment-seconds", "60"]
    receiver = stop = None
    if gps:
        receiver = GPSD(work)
        args += ["--gpsd", f"127.0.0.1:{receiver.port}"]
        _, stop = feed(receiver, Drive([(SECONDS + 10, 50, 90, True)]))
    proc, port, password = start(root, *args)
    try:
        time.sleep(5)
        cpu0, thread0 = cpu_seconds(proc.pid), thread_cpu_seconds(proc.pid, lambda name: name == "gpsd")
        reports0 = get(port, password, "/api/status").get("gps", {}).get("reports", 0) if gps else 0
        time.sleep(SECONDS)
        cpu1, thread1 = cpu_seconds(proc.pid), thread_cpu_seconds(proc.pid, lambda name: name == "gpsd")
        reports1 = get(port, password, "/api/status").get("gps", {}).get("reports", 0) if gps else 0
    finally:
        proc.terminate()
        proc.wait(10)
        if receiver:
            stop.set()
            receiver.close()
    return cpu1 - cpu0, thread1 - thread0, reports1 - reports0, sorted(root.rglob("*.mp4"))


def main():
    work = pathlib.Path(tempfile.mkdtemp(prefix="blackbox-gps-"))
    try:
        plain, _, _, _ = run(work, gps=False)
        cpu, client, reports, files = run(work, gps=True)
        recorded, trak, traf, samples = track_cost(files)
        per_hour = 3600 / max(recorded, 1e-9)
        print(f"recorded {recorded:.0f} s of 1280x720@{FPS} H.264 with a 1 Hz GPS in {len(files)} files")
        print(f"camm track: {samples * per_hour / 1e3:.0f} kB/h of reports, {traf * per_hour / 1e3:.0f} kB/h of fragment boxes, "
              f"{trak} B of headers in {len(files)} files; {(samples + traf + trak) * per_hour / 1e6:.2f} MB/h in all")
        print(f"gpsd client thread: {client * 1e3 / max(reports, 1):.3f} ms CPU per report ({reports} reports)")
        frames = SECONDS * FPS
        print(f"daemon CPU per frame: {plain * 1e3 / frames:.3f} ms without GPS, {cpu * 1e3 / frames:.3f} ms with "
              f"(difference {(cpu - plain) * 1e3 / frames:+.3f} ms; one run each, so noise of a few percent)")
    finally:
        subprocess.run(["rm", "-rf", str(work)])


if __name__ == "__main__":
    main()
