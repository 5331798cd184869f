#!/usr/bin/env python3
"""What the accelerometer costs while recording: the reader thread's CPU per second at 100 readings a second and the
bytes per hour its readings add to the files (CAMM type 3 records, their fragment boxes, their track header). The
device is a real IIO accelerometer made by the kernel's hid-sensor-accel-3d from a uhid device, so this runs inside
the VM, whose CPU is emulated: the CPU figure is an upper bound (TCG runs code many times slower than a Pi 5 does).
    tests/vm/run.sh python3 bench/gsensor.py [SECONDS]        (BLACKBOX_BIN: the binary; default .build/release/blackbox)"""
import pathlib
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "vm"))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from gps import get, track_cost  # noqa: E402
from helpers import thread_cpu_seconds  # noqa: E402
from timeline import start  # noqa: E402
from hid_accel import Accelerometer  # noqa: E402

SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 30


def main():
    subprocess.run(["modprobe", "-a", "uhid", "hid-sensor-hub", "hid-sensor-accel-3d"], check=True)
    device = Accelerometer(lambda t: (0.0, 0.0, 1.0)).start()
    work = pathlib.Path(tempfile.mkdtemp(prefix="blackbox-gsensor-"))
    proc, port, password = start(work / "r", "--camera", "front=testpattern:320x240@10", "--segment-seconds", "600", "--gsensor", "accel_3d")
    try:
        deadline = time.monotonic() + 60
        while get(port, password, "/api/status")["gsensor"]["state"] != "reading" and time.monotonic() < deadline:
            time.sleep(0.5)
        before, samples0 = thread_cpu_seconds(proc.pid, lambda name: name == "gsensor"), get(port, password, "/api/status")["gsensor"]["samples"]
        time.sleep(SECONDS)
        used, samples = thread_cpu_seconds(proc.pid, lambda name: name == "gsensor") - before, get(port, password, "/api/status")["gsensor"]["samples"] - samples0
    finally:
        proc.terminate()
        proc.wait(30)
        device.close()
    recorded, _, traf, data = track_cost(sorted((work / "r").rglob("*.mp4")))
    per_hour = 3600 / max(recorded, 1e-9)
    print(f"{samples} readings in {SECONDS} s ({samples / SECONDS:.0f} a second)")
    print(f"reader thread: {used / SECONDS * 100:.2f} % of an emulated core, {used * 1e6 / max(samples, 1):.0f} µs per reading (TCG: an upper bound)")
    print(f"camm track: {data * per_hour / 1e6:.2f} MB/h of readings, {traf * per_hour / 1e6:.2f} MB/h of fragment boxes, "
          f"{(data + traf) * per_hour / 1e6:.2f} MB/h in all ({recorded:.0f} s recorded)")
    subprocess.run(["rm", "-rf", str(work)])


if __name__ == "__main__":
    main()
