#!/usr/bin/env python3
"""RTSP against MJPEG on the street clip re-timed to 1280x720 at 30 fps, recording H.264 as a dashcam does:
bytes per second per viewer (MJPEG /stream, H.264 over RTSP, H.264 in fMP4 /stream.mp4); the daemon's CPU with
0, 1 and 10 RTSP viewers; and glass-to-glass latency read from the overlay clock burnt into every frame: a
client decodes the picture (ffmpeg for RTSP with nobuffer/low_delay; headless Chromium's Media Source player
for /stream.mp4, its current frame drawn into a canvas), reads the HH:MM:SS.mmm printed on it and compares
it with its own clock at that moment.
    python3 bench/rtsp.py [SECONDS]        (BLACKBOX_BIN: the binary; default .build/release/blackbox)"""
import base64
import pathlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "e2e"))
import rtsp  # noqa: E402
from live import CLIP, cpu_with_viewers, read  # noqa: E402
from timeline import start  # noqa: E402
from overlay import clock_box, local_seconds, overlay_clock, raw_pixel  # noqa: E402

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 20
WIDTH, HEIGHT = 1280, 720
# The overlay's clock ("YYYY-MM-DD HH:MM:SS.mmm", 5x7 glyphs at height/240 from (3s, 3s)) is read from a crop of the
# picture's top-left corner; even sizes, as ffmpeg crops 4:2:0 pictures at even sizes only.
CROP_W, CROP_H = ((size + 1) // 2 * 2 for size in clock_box(HEIGHT))


def read_clock(gray, stride):
    """Seconds since midnight (local time) printed in the overlay of a grey crop, or None when it does not read."""
    return overlay_clock(raw_pixel(gray, stride), HEIGHT)


def rtsp_latency(address, seconds):
    """Overlay clock against this machine's clock for every frame ffmpeg decodes from RTSP."""
    cmd = ["ffmpeg", "-v", "error", "-fflags", "nobuffer", "-flags", "low_delay", "-rtsp_transport", "tcp", "-i", address,
           "-vf", f"crop={CROP_W}:{CROP_H}:0:0,format=gray", "-f", "rawvideo", "-"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    lags, size, ends = [], CROP_W * CROP_H, time.monotonic() + seconds
    try:
        while time.monotonic() < ends:
            frame = p.stdout.read(size)
            if len(frame) < size:
                break
            now = time.time()
            clock = read_clock(frame, CROP_W)
            if clock is not None:
                lags.append(local_seconds(now) - clock)
    finally:
        p.kill()
        p.wait()
    return lags


def mse_latency(base, password, seconds):
    """The same, for the web UI's live H.264 view in headless Chromium: the video's current frame, drawn into a canvas."""
    from test_ui import chromium, log_in  # noqa: E402

    class Target:
        pass

    target = Target()
    target.base, target.password = base, password
    browser = chromium(1400, 1000)
    lags = []
    try:
        log_in(browser, target)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not browser.execute_script(
                "const v = document.querySelector('article.camera video'); return v && v.videoWidth > 0 && !v.paused"):
            time.sleep(0.2)
        ends = time.monotonic() + seconds
        while time.monotonic() < ends:
            sample = browser.execute_script(f"""
                const v = document.querySelector('article.camera video');
                if (!v || v.videoWidth === 0) return null;
                const c = window.__lagCanvas || (window.__lagCanvas = document.createElement('canvas'));
                c.width = {CROP_W}; c.height = {CROP_H};
                const g = c.getContext('2d', {{willReadFrequently: true}});
                g.drawImage(v, 0, 0, {CROP_W}, {CROP_H}, 0, 0, {CROP_W}, {CROP_H});
                const now = Date.now() / 1000;
                const d = g.getImageData(0, 0, {CROP_W}, {CROP_H}).data;
                const grey = new Array({CROP_W * CROP_H});
                for (let i = 0; i < grey.length; i++) grey[i] = d[i * 4 + 1];
                return [grey, now];""")
            if sample is None:  # the player is starting again (it fell behind, or the page re-rendered)
                time.sleep(0.1)
                continue
            pixels, now = sample
            clock = read_clock(pixels, CROP_W)
            if clock is not None:
                lags.append(local_seconds(now) - clock)
            time.sleep(0.1)
    finally:
        browser.quit()
    return lags


def rtsp_reader(port, password, seconds, out, key):
    for attempt in range(3):
        c = rtsp.Client("127.0.0.1", port, "front", "admin", password)
        try:
            c.describe()
            break
        except rtsp.RTSPError:
            # 503 while the stream of the previous stage's last client is being torn down: NVRs ask again, so do we.
            c.close()
            time.sleep(0.3)
    try:
        c.play_tcp()
        total, first = 0, None
        for _, payload, _ in c.packets(seconds):
            first = first or time.monotonic()
            total += len(payload) + 4
        out[key] = total / max(0.001, time.monotonic() - first)
    finally:
        c.close()


def summary(lags):
    if not lags:
        return "no frame read"
    lags = sorted(lags)
    return f"median {statistics.median(lags) * 1000:4.0f} ms, p95 {lags[int(len(lags) * 0.95)] * 1000:4.0f} ms ({len(lags)} frames read)"


def main():
    with tempfile.TemporaryDirectory() as tmp:
        clip = pathlib.Path(tmp) / "street720p30.y4m"
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(CLIP), "-vf", f"setpts=N/30/TB,scale={WIDTH}:{HEIGHT}", "-r", "30", "-pix_fmt",
                        "yuv420p", "-f", "yuv4mpegpipe", str(clip)], check=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            rtsp_port = s.getsockname()[1]
        proc, port, password = start(pathlib.Path(tmp) / "rec", "--camera", f"front=file:{clip}", "--codec", "h264",
                                     "--rtsp-port", str(rtsp_port))
        auth = "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()
        base = f"http://127.0.0.1:{port}"
        try:
            time.sleep(3)
            rates = {}
            read(base + "/stream", auth, SECONDS, rates, "MJPEG")
            rtsp_reader(rtsp_port, password, SECONDS, rates, "RTSP")
            read(base + "/stream.mp4", auth, SECONDS, rates, "fMP4")
            print(f"street clip {WIDTH}x{HEIGHT}@30 (re-timed from 10 fps), recording H.264, {SECONDS:.0f} s per measurement")
            for kind, rate in rates.items():
                print(f"  {kind:5} {rate / 1e6 * 8:6.2f} Mbit/s per viewer ({rate / 1024:.0f} KiB/s, {rate / rates['MJPEG']:.3f} of MJPEG)")
            for viewers in [0, 1, 10]:
                used = cpu_with_viewers(proc.pid, viewers, lambda out, i: rtsp_reader(rtsp_port, password, SECONDS + 2, out, i), SECONDS)
                print(f"  daemon CPU with {viewers:2} RTSP viewers: {used * 100:5.1f} % of a core")
            print(f"  glass-to-glass, RTSP (ffmpeg, nobuffer):  {summary(rtsp_latency(f'rtsp://admin:{password}@127.0.0.1:{rtsp_port}/front', SECONDS))}")
            print(f"  glass-to-glass, MSE (Chromium live view): {summary(mse_latency(base, password, SECONDS))}")
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
