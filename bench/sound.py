#!/usr/bin/env python3
"""What sound costs while recording: the CPU of capturing and encoding it (AAC-LC mono 48 kHz, 64 kbit/s: the
daemon's sound thread, GStreamer's threads and the click source, taken as the whole daemon's time with sound less
its time without, per second of sound) and the bytes per hour of the mp4a track in the files (its samples, its traf
boxes in each fragment, its trak in each file's header). The camera is the 720p30 test pattern recording H.264, the
product's default; the sound is the test click (the daemon makes the PCM itself, as ALSA would hand it over).
    python3 bench/sound.py [SECONDS]        (BLACKBOX_BIN: the binary; default .build/release/blackbox)"""
import pathlib
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from gps import get, track_cost  # noqa: E402
from timeline import start  # noqa: E402
from helpers import cpu_seconds, thread_cpu_seconds  # noqa: E402

SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 60
FPS = 30


def run(work, sound):
    """Records SECONDS with or without the test click: (daemon CPU s, sound-thread CPU s, units encoded, files)."""
    root = work / ("with" if sound else "without")
    args = ["--camera", f"front=testpattern:1280x720@{FPS}", "--segment-seconds", "60"]
    if sound:
        args += ["--camera-audio", "front=test:click"]
    proc, port, password = start(root, *args)
    try:
        time.sleep(5)
        units = lambda: get(port, password, "/api/status")["cameras"][0].get("audio", {}).get("units", 0)  # noqa: E731
        cpu0, thread0, units0 = cpu_seconds(proc.pid), thread_cpu_seconds(proc.pid, lambda name: name == "aud-front"), units()
        time.sleep(SECONDS)
        cpu1, thread1, units1 = cpu_seconds(proc.pid), thread_cpu_seconds(proc.pid, lambda name: name == "aud-front"), units()
    finally:
        proc.terminate()
        proc.wait(10)
    return cpu1 - cpu0, thread1 - thread0, units1 - units0, sorted(root.rglob("*.mp4"))


def main():
    work = pathlib.Path(tempfile.mkdtemp(prefix="blackbox-sound-"))
    try:
        plain, _, _, _ = run(work, sound=False)
        cpu, thread, units, files = run(work, sound=True)
        recorded, trak, traf, samples = track_cost(files, b"mp4a")
        per_hour = 3600 / max(recorded, 1e-9)
        print(f"recorded {recorded:.0f} s of 1280x720@{FPS} H.264 with AAC sound in {len(files)} files ({units} units encoded)")
        print(f"mp4a track: {samples * per_hour / 1e6:.1f} MB/h of AAC, {traf * per_hour / 1e3:.0f} kB/h of fragment boxes, "
              f"{trak} B of headers in {len(files)} files; {(samples + traf + trak) * per_hour / 1e6:.2f} MB/h in all")
        print(f"daemon CPU: {plain / SECONDS * 100:.1f} % of a core without sound, {cpu / SECONDS * 100:.1f} % with; "
              f"sound costs {(cpu - plain) * 1e3 / SECONDS:.1f} ms of CPU per second of sound "
              f"(its pulling thread {thread * 1e3 / SECONDS:.2f} ms; one run each, so noise of a few percent of the whole)")
    finally:
        subprocess.run(["rm", "-rf", str(work)])


if __name__ == "__main__":
    main()
