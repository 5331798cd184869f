"""A USB webcam that Linux's own uvcvideo drives, for the VM tests: a USB Video Class 1.1 device (high speed, one bulk
IN endpoint) on the kernel's USB/IP host controller (tests/vm/usbip_device.py), which the driver makes /dev/videoN
exactly as for a webcam on a USB port. It offers Motion JPEG at the sizes of SIZES and, with `raw`, uncompressed YUYV at
RAW_SIZES (what libcamera's uvcvideo pipeline handler delivers as video), 10 frames a second, and sends the street
clip's pictures (made once by ffmpeg) at that pace on its own clock: a payload header on each transfer, the frame bit
toggled each picture and the end bit on its last transfer, as UVC cameras do."""
import pathlib
import struct
import subprocess
import time

from usbip_device import HIGH_SPEED, Device, string_descriptor

PRODUCT = "Blackbox Test Camera"
USB_ID = "1d6b:0102"  # vendor:product, as libcamera's camera id ends
SIZES = [(640, 480), (320, 240)]
RAW_SIZES = [(320, 240), (640, 480)]
YUY2 = b"YUY2" + bytes.fromhex("00001000800000aa00389b71")  # the uncompressed format's GUID
FPS = 10
INTERVAL = 10_000_000 // FPS  # 100 ns units
PAYLOAD = 16384  # dwMaxPayloadTransferSize: uvcvideo's bulk transfers are 32 packets of 512 at most, so one transfer is one payload
CLIP = pathlib.Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "street_768x576_10fps.avi"


def frames(folder, width, height, count=100, raw=False):
    """The first `count` pictures of the street clip at width x height, as JPEG or raw YUYV (made once into `folder`)."""
    out = pathlib.Path(folder) / f"{width}x{height}"
    if raw:
        path = out.with_suffix(".yuyv")
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["ffmpeg", "-v", "error", "-i", str(CLIP), "-frames:v", str(count), "-vf", f"scale={width}:{height}",
                            "-pix_fmt", "yuyv422", "-f", "rawvideo", str(path)], check=True, timeout=300)
        data, size = path.read_bytes(), width * height * 2
        return [data[i:i + size] for i in range(0, len(data) - size + 1, size)]
    if not out.exists():
        out.mkdir(parents=True)
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(CLIP), "-frames:v", str(count), "-vf", f"scale={width}:{height}",
                        "-q:v", "5", str(out / "%04d.jpg")], check=True, timeout=300)
    return [p.read_bytes() for p in sorted(out.glob("*.jpg"))]


def _descriptors(formats):
    """The configuration descriptor for `formats`: [(UVC format subtype, GUID or None, [(width, height, largest picture)])]."""
    blocks = b""
    for number, (subtype, guid, sizes) in enumerate(formats, 1):
        if guid is None:  # Motion JPEG
            blocks += struct.pack("<BBBBBBBBBBB", 11, 0x24, subtype, number, len(sizes), 0x01, 1, 0, 0, 0, 0)
        else:
            blocks += struct.pack("<BBBBB16sBBBBBB", 27, 0x24, subtype, number, len(sizes), guid, 16, 1, 0, 0, 0, 0)
        blocks += b"".join(
            struct.pack("<BBBBBHHIIIIBI", 30, 0x24, subtype + 1, i + 1, 0, w, h, w * h * 8 * FPS // 10, w * h * 8 * FPS, size, INTERVAL, 1, INTERVAL)
            for i, (w, h, size) in enumerate(sizes))
        blocks += struct.pack("<BBBBBB", 6, 0x24, 0x0D, 1, 1, 4)
    header = 13 + len(formats)
    streaming = struct.pack("<BBBBHBBBBBBB", header, 0x24, 0x01, len(formats), header + len(blocks), 0x81, 0, 2, 0, 0, 0, 1) \
        + bytes(len(formats)) + blocks
    control = (struct.pack("<BBBHHIBB", 13, 0x24, 0x01, 0x0110, 40, 48_000_000, 1, 1)           # header, one streaming intf
               + struct.pack("<BBBBHBBHHHB3s", 18, 0x24, 0x02, 1, 0x0201, 0, 0, 0, 0, 0, 3, bytes(3))  # camera terminal 1
               + struct.pack("<BBBBHBBB", 9, 0x24, 0x03, 2, 0x0101, 0, 1, 0))                  # output terminal 2: USB
    body = (struct.pack("<BBBBBBBB", 8, 0x0B, 0, 2, 0x0E, 0x03, 0, 0)                         # the function's two interfaces
            + struct.pack("<BBBBBBBBB", 9, 4, 0, 0, 0, 0x0E, 0x01, 0, 0) + control            # video control
            + struct.pack("<BBBBBBBBB", 9, 4, 1, 0, 1, 0x0E, 0x02, 0, 0) + streaming          # video streaming
            + struct.pack("<BBBBHB", 7, 5, 0x81, 0x02, 512, 0))                               # endpoint 1 IN, bulk
    return struct.pack("<BBHBBBBB", 9, 2, 9 + len(body), 2, 1, 0, 0x80, 250) + body


class Camera(Device):
    """The device; `plug()` attaches it, `unplug()` takes it away; `frames_sent` counts the pictures it sent."""

    DEVICE = struct.pack("<BBHBBBBHHHBBBB", 18, 1, 0x0200, 0xEF, 0x02, 0x01, 64, 0x1d6b, 0x0102, 0x0100, 1, 2, 3, 1)
    STRINGS = {0: bytes([4, 3, 0x09, 0x04]), 1: string_descriptor("blackbox tests"), 2: string_descriptor(PRODUCT),
               3: string_descriptor("0001")}
    SPEED, MODULES = HIGH_SPEED, ("uvcvideo",)

    def __init__(self, folder, raw=False):
        super().__init__()
        # pictures[format - 1][frame - 1]: the pictures of each of the probe's format and frame indexes.
        self.pictures = [[frames(folder, w, h) for w, h in SIZES]]
        formats = [(0x06, None, [(w, h, max(map(len, p))) for (w, h), p in zip(SIZES, self.pictures[0])])]
        if raw:
            self.pictures.append([frames(folder, w, h, 50, raw=True) for w, h in RAW_SIZES])
            formats.append((0x04, YUY2, [(w, h, w * h * 2) for w, h in RAW_SIZES]))
        self.CONFIG = _descriptors(formats)
        self.frames_sent = 0
        self.plugged()

    def plugged(self):
        self.probe = self._probe(1, 1)
        self.streaming, self.started, self.frame, self.left, self.fid = False, None, 0, b"", 0

    def _probe(self, format, frame):
        size = max(map(len, self.pictures[format - 1][frame - 1]))
        return struct.pack("<HBBIHHHHHIIIBBBB", 1, format, frame, INTERVAL, 0, 0, 0, 0, 0, size, PAYLOAD, 48_000_000, 3, 0, 0, 0)

    def class_request(self, kind, request, value, index, length, data):
        selector = value >> 8
        if index & 0xff != 1 or selector not in (1, 2):  # only the streaming interface's probe and commit
            return None
        if kind == 0x21 and request == 0x01:  # SET_CUR
            format = data[2] if len(data) > 3 and 1 <= data[2] <= len(self.pictures) else 1
            frame = data[3] if len(data) > 3 and 1 <= data[3] <= len(self.pictures[format - 1]) else 1
            self.probe = self._probe(format, frame)
            if selector == 2:  # commit: the stream starts with the next transfer asked
                self.streaming, self.started, self.frame, self.left = True, None, 0, b""
            return b""
        if kind == 0xA1:
            if request == 0x85:  # GET_LEN
                return struct.pack("<H", len(self.probe))
            if request == 0x86:  # GET_INFO: get and set
                return b"\x03"
            if request in (0x81, 0x82, 0x83, 0x87):  # GET_CUR, MIN, MAX, DEF
                return self.probe if request == 0x81 else self._probe(1, 1)
        return None

    def set_interface(self, interface, alternate):
        if interface == 1 and alternate == 0:
            self.streaming = False

    def due(self, transfer):
        if not self.streaming or self.left:
            return None  # the rest of a picture goes at once
        if self.started is None:
            self.started = time.time()
        return self.started + self.frame / FPS

    def answer(self, transfer):
        if not self.streaming:
            return b"", None
        if not self.left:
            pictures = self.pictures[self.probe[2] - 1][self.probe[3] - 1]
            self.left = pictures[self.frame % len(pictures)]
            self.frame += 1
            self.fid ^= 1
        chunk, self.left = self.left[:min(PAYLOAD, transfer.length) - 2], self.left[min(PAYLOAD, transfer.length) - 2:]
        if not self.left:
            self.frames_sent += 1
        return bytes([2, 0x80 | self.fid | (0 if self.left else 0x02)]) + chunk, None


def video_device():
    """The /dev/videoN uvcvideo made of the camera (its capture node), or None."""
    for node in sorted(pathlib.Path("/sys/class/video4linux").glob("video*")):
        if (node / "name").read_text().strip() == PRODUCT and (node / "index").read_text().strip() == "0":
            return f"/dev/{node.name}"
    return None


def in_libcamera(binary):
    """(N of libcamera:N, libcamera's id) of the camera in `binary devices`, or None while libcamera does not list it.
    The index is what the daemon is given; `cam` is given the id, because a camera another program holds is not listed
    to it and the indexes after it move."""
    out = subprocess.run([binary, "devices"], capture_output=True, text=True, timeout=120).stdout
    found = [(line.split()[0].split(":")[1], line.rsplit("(id ", 1)[1].rstrip(")")) for line in out.splitlines()
             if line.startswith("libcamera:") and USB_ID in line]
    return found[0] if found else None
