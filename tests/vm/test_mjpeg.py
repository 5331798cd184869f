"""MJPEG pass-through from a compressed "camera": v4l2loopback fed by this test. Runs inside the VM."""
import fcntl
import io
import json
import os
import pathlib
import struct
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "e2e"))
from conftest import Daemon  # noqa: E402
from mjpeg import MJPEGStream, decode_jpeg  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

import pytest  # noqa: E402

LOOP = "/dev/video10"
VIDIOC_S_FMT = 0xC0D05605  # _IOWR('V', 5, struct v4l2_format), 208 bytes on 64-bit
BUF_TYPE_VIDEO_OUTPUT = 2
MJPG = int.from_bytes(b"MJPG", "little")


def jpeg(text, size=(640, 480)):
    image = Image.new("RGB", size, (30, 90, 160))
    ImageDraw.Draw(image).text((40, 200), text, fill=(255, 255, 0))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def strip_huffman_tables(data):
    """The same JPEG without DHT segments, as many UVC cameras send MJPEG."""
    out, i = bytearray(data[:2]), 2
    while i < len(data):
        marker = data[i + 1]
        if marker == 0xDA:
            out += data[i:]
            break
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if marker != 0xC4:
            out += data[i:i + 2 + length]
        i += 2 + length
    return bytes(out)


class Feeder(threading.Thread):
    """Writes frames to the loopback device's output side at about 30 fps."""

    def __init__(self, frames):
        super().__init__(daemon=True)
        self.frames = frames
        self.stop = threading.Event()
        self.fd = os.open(LOOP, os.O_RDWR)
        pix = struct.pack("12I", 640, 480, MJPG, 1, 0, 1 << 20, 0, 0, 0, 0, 0, 0)
        fmt = struct.pack("I4x", BUF_TYPE_VIDEO_OUTPUT) + pix + bytes(208 - 8 - len(pix))
        fcntl.ioctl(self.fd, VIDIOC_S_FMT, bytearray(fmt))
        os.write(self.fd, frames[0])  # the capture side appears once the first frame is in

    def run(self):
        n = 0
        while not self.stop.is_set():
            os.write(self.fd, self.frames[n % len(self.frames)])
            n += 1
            time.sleep(1 / 30)
        os.close(self.fd)


@pytest.fixture
def loopback():
    subprocess.run(["modprobe", "v4l2loopback", "video_nr=10", "exclusive_caps=1", "card_label=mjpeg-camera"], check=True)
    yield
    subprocess.run(["rmmod", "v4l2loopback"], check=False)


def test_camera_jpeg_is_served_as_fed_with_huffman_tables_added(loopback):
    full = jpeg("frame with tables")
    stripped = strip_huffman_tables(jpeg("frame without tables"))
    assert b"\xff\xc4" not in stripped
    feeder = Feeder([full, stripped])
    feeder.start()
    d = Daemon("--camera", f"front=v4l2:{LOOP}:640x480@30,mjpeg", "--no-record")
    try:
        stream = MJPEGStream(d.base, "/stream")
        seen_full = seen_fixed = 0
        for _ in range(30):
            _, served = stream.next_part()
            if served == full:
                seen_full += 1
                continue
            # The other frame: byte for byte what was fed, with one DHT segment spliced in before SOS.
            sos = stripped.index(b"\xff\xda")
            assert served[:sos] == stripped[:sos] and served.endswith(stripped[sos:]), "served bytes differ from the fed frame"
            dht = served[sos:len(served) - (len(stripped) - sos)]
            assert dht[:2] == b"\xff\xc4" and int.from_bytes(dht[2:4], "big") + 2 == len(dht)
            assert decode_jpeg(served).size == (640, 480)
            seen_fixed += 1
        stream.close()
        assert seen_full > 0 and seen_fixed > 0
        with urllib.request.urlopen(d.base + "/api/status", timeout=10) as r:
            cam = json.loads(r.read())["cameras"][0]
        assert "MJPG" in cam["source"] and cam["state"] == "streaming"
    finally:
        feeder.stop.set()
        feeder.join(5)
        assert d.stop() == 0


def scene(block_x=None):
    """A still picture with texture, and a dark block at `block_x` when given."""
    image = Image.new("RGB", (640, 480), (120, 130, 110))
    draw = ImageDraw.Draw(image)
    for x in range(0, 640, 40):
        draw.line([(x, 0), (x, 480)], fill=(90, 100, 80), width=3)
    if block_x is not None:
        draw.rectangle([block_x, 180, block_x + 60, 330], fill=(15, 15, 15))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def test_camera_jpegs_are_analysed_for_motion(loopback, tmp_path):
    # Eight seconds still (longer than the 5 s cooldown), then a dark block crossing the picture in two seconds, again and again.
    still = scene()
    frames = [still] * 240 + [scene(10 * i) for i in range(60)]
    feeder = Feeder(frames)
    feeder.start()
    d = Daemon("--camera", f"front=v4l2:{LOOP}:640x480@30,mjpeg", "--record-mode", "motion", "--event-pre", "1", "--event-post", "1",
               recordings=tmp_path)
    try:
        def status():
            with urllib.request.urlopen(d.base + "/api/status", timeout=10) as r:
                return json.loads(r.read())["cameras"][0]

        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and status()["motion"]["events"] < 2:
            time.sleep(0.5)
        motion = status()["motion"]
        # Decoded at reduced scale from the camera's own JPEG (nothing re-encoded); every crossing is an event.
        assert motion["events"] >= 2 and motion["undecodable"] == 0 and motion["analysed"] > 50, motion
    finally:
        feeder.stop.set()
        feeder.join(5)
        assert d.stop() == 0
    assert list(tmp_path.rglob("events/front/*/*.mp4")), "no motion clip"
