#!/usr/bin/env python3
"""What reading a camera costs by each way the daemon can (#24): one USB webcam (tests/vm/usbip_camera.py's UVC device,
YUYV 640x480 at 10 fps, on the VM's xHCI through QEMU's usb-redir) read as `v4l2:` (uvcvideo's mmap buffers, converted
to YUV 4:2:0 once) and as `libcamera:` (libcamera's uvcvideo pipeline handler through GStreamer's libcamerasrc), and the
same pictures as YUV 4:2:0 from an rpicam-vid-style pipe (tests/fake-rpicam's rpicam-vid on the daemon's PATH, whose
own CPU is not counted). The daemon records nothing and nobody watches, so its CPU per frame is the capture path's:
the reading thread, the conversion, the overlay. Runs inside the VM, whose CPU is emulated: the figures are upper
bounds, and their ratios are what to compare.
    tests/vm/run.sh python3 bench/capture_paths.py [SECONDS]      (BLACKBOX_BIN: the binary; default .build/release/blackbox)"""
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "vm"))
from daemon import BIN, CLIP, Daemon  # noqa: E402
from helpers import wait_for  # noqa: E402
from usbip_camera import FPS, RAW_SIZES, Camera, in_libcamera, video_device  # noqa: E402
from usbredir_port import RedirPort  # noqa: E402

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 30
WIDTH, HEIGHT = RAW_SIZES[-1]  # 640x480, as #24 asks
# Copies of a frame's pixels in the daemon's process on each path, from the code (Sources/Capture/V4L2/V4L2Source.swift,
# Sources/CaptureGlue/capture_glue.c, Sources/LibcameraCapture/LibcameraSource.swift, Sources/Capture/RpicamSource.swift).
COPIES = {
    "v4l2": "1 (YUYV to YUV 4:2:0 out of the mmap buffer, which goes back to the driver at once)",
    "libcamera": "2 (GStreamer's videoconvert YUY2 to I420, then into the camera's pool so libcamera gets its buffer back)",
    "rpicam": "1 (read() from the pipe into the pool; rpicam-vid itself copies into the pipe)",
}


def main():
    work = pathlib.Path(tempfile.mkdtemp(prefix="blackbox-capture-"))
    camera = Camera(work / "frames", raw=True)
    port = RedirPort(camera)
    port.plug()
    i420 = work / "street.i420"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(CLIP), "-frames:v", "50", "-vf", f"scale={WIDTH}:{HEIGHT}", "-pix_fmt", "yuv420p",
                    "-f", "rawvideo", str(i420)], check=True, timeout=300)
    try:
        wait_for(lambda: video_device() is not None and in_libcamera(BIN) is not None, 90, "the USB camera in V4L2 and libcamera")
        paths = {
            "v4l2": (f"v4l2:{video_device()}:{WIDTH}x{HEIGHT}@{FPS},yuyv", None),
            "libcamera": (f"libcamera:{in_libcamera(BIN)[0]}:{WIDTH}x{HEIGHT}@{FPS}", None),
            "rpicam": (f"rpicam:0:{WIDTH}x{HEIGHT}@{FPS}",
                       {"PATH": f"{ROOT / 'tests' / 'fake-rpicam'}:/usr/bin:/bin", "FAKE_RPICAM_I420": str(i420)}),
        }
        results = {}
        for name, (source, env) in paths.items():
            d = Daemon(work / name, CLIP, "h264", extra=("--no-record",), source=source, env=env)  # a password each
            try:
                time.sleep(3)  # past the start
                results[name] = d.cpu_per_frame(SECONDS, "h264")[:2]
            finally:
                d.stop()
        base = results["v4l2"][0]
        print(f"{WIDTH}x{HEIGHT} at {FPS} fps, {SECONDS:.0f} s each, the daemon's CPU per frame (emulated CPU: an upper bound):")
        for name, (cpu, fps) in results.items():
            print(f"  {name:10s} {cpu * 1e3:6.2f} ms/frame ({cpu / base:.2f}x v4l2) at {fps:.1f} fps; copies per frame: {COPIES[name]}")
    finally:
        port.unplug()
        subprocess.run(["rm", "-rf", str(work)])


if __name__ == "__main__":
    main()
