"""A USB microphone that Linux's own snd-usb-audio drives, for the VM tests: a USB Audio Class 1 device (mono, 16-bit,
48 kHz, one isochronous IN endpoint at full speed) written here, attached to the kernel's USB/IP host controller
(vhci-hcd, in Debian's kernel) over a socket pair, so the kernel enumerates it, binds snd-usb-audio and makes an ALSA
card of it exactly as for a microphone on a USB port. The gadget route (dummy_hcd + usb_f_uac2) cannot do this on
Linux 6.1: dummy_hcd offers no isochronous endpoints ("The emulation does not include isochronous transfers!"), so
the UAC2 function never binds.

The device sends silence, with a 10 ms 2 kHz burst at each wall-clock time it is given. It keeps its own clock, a
millisecond a packet from when streaming began, and answers each packet when its millisecond is over: the sound leaves
it at the pace and time a real microphone's would (late on a busy machine, never short). One thread does it all, from
one select loop: the driver asks a URB a millisecond, and threads handing them over fell behind in an emulated VM.
Unplugging detaches the port (the kernel sees the device go), plugging attaches it again."""
import array
import collections
import math
import pathlib
import select
import socket
import struct
import subprocess
import threading
import time

RATE = 48000
VHCI = pathlib.Path("/sys/devices/platform/vhci_hcd.0")
PRODUCT = "Blackbox Test Microphone"
FULL_SPEED = 2  # enum usb_device_speed
PACKET_SECONDS = 0.001
PACKET_SAMPLES = int(RATE * PACKET_SECONDS)

# USB/IP (Linux's drivers/usb/usbip/usbip_common.h): 48-byte big-endian headers.
CMD_SUBMIT, CMD_UNLINK, RET_SUBMIT, RET_UNLINK = 1, 2, 3, 4
EPIPE, ECONNRESET = 32, 104


def _string(text):
    data = text.encode("utf-16-le")
    return bytes([2 + len(data), 3]) + data


DEVICE = struct.pack("<BBHBBBBHHHBBBB", 18, 1, 0x0110, 0, 0, 0, 64, 0x1d6b, 0x0101, 0x0100, 1, 2, 3, 1)
_AC = (struct.pack("<BBBHHBB", 9, 0x24, 1, 0x0100, 30, 1, 1)                      # header, one streaming interface
       + struct.pack("<BBBBHBBHBB", 12, 0x24, 2, 1, 0x0201, 0, 1, 0, 0, 0)         # input terminal 1: a microphone
       + struct.pack("<BBBBHBBB", 9, 0x24, 3, 2, 0x0101, 0, 1, 0))                 # output terminal 2: USB streaming
_BODY = (struct.pack("<BBBBBBBBB", 9, 4, 0, 0, 0, 1, 1, 0, 0) + _AC                 # interface 0: audio control
         + struct.pack("<BBBBBBBBB", 9, 4, 1, 0, 0, 1, 2, 0, 0)                     # interface 1 alt 0: no bandwidth
         + struct.pack("<BBBBBBBBB", 9, 4, 1, 1, 1, 1, 2, 0, 0)                     # interface 1 alt 1: streaming
         + struct.pack("<BBBBBH", 7, 0x24, 1, 2, 1, 0x0001)                         # general: PCM from terminal 2
         + struct.pack("<BBBBBBBB", 11, 0x24, 2, 1, 1, 2, 16, 1) + RATE.to_bytes(3, "little")  # type I, mono, 16 bit
         + struct.pack("<BBBBHBBB", 9, 5, 0x81, 0x05, 2 * PACKET_SAMPLES + 4, 1, 0, 0)  # endpoint 1 IN, iso, async
         + struct.pack("<BBBBBH", 7, 0x25, 1, 0x01, 0, 0))                          # sampling frequency control
CONFIG = struct.pack("<BBHBBBBB", 9, 2, 9 + len(_BODY), 2, 1, 0, 0x80, 50) + _BODY
STRINGS = {0: bytes([4, 3, 0x09, 0x04]), 1: _string("blackbox tests"), 2: _string(PRODUCT), 3: _string("0001")}


class Microphone:
    """The device; `plug()` attaches it, `unplug()` takes it away, `click_at(times)` schedules bursts (wall clock)."""

    def __init__(self):
        self.clicks = []
        self.lock = threading.Lock()
        self.sock = None
        self.port = None
        self.packets = 0  # answered since the start

    def click_at(self, times):
        with self.lock:
            self.clicks.extend(times)

    def _samples(self, start, count):
        """`count` samples of PCM from `start` (wall clock): silence, or a 10 ms 2 kHz burst where a click is due."""
        end = start + count / RATE
        with self.lock:
            near = [c for c in self.clicks if c - 0.010 <= end and start <= c + 0.010]
        if not near:
            return bytes(2 * count)
        out = array.array("h", bytes(2 * count))
        for c in near:
            for i in range(max(0, round((c - start) * RATE)), min(count, round((c + 0.010 - start) * RATE))):
                out[i] = int(0.7 * 32767 * math.sin(2 * math.pi * 2000 * (start + i / RATE - c)))
        return out.tobytes()

    def plug(self):
        """Attaches the device to a free port of vhci-hcd (loading it and snd-usb-audio as udev would)."""
        if not VHCI.exists():
            subprocess.run(["modprobe", "-a", "vhci-hcd", "snd-usb-audio"], check=True, timeout=60)
        for _ in range(50):
            if (VHCI / "status").exists():
                break
            time.sleep(0.1)
        port = next(int(f[1]) for f in (line.split() for line in (VHCI / "status").read_text().splitlines()[1:])
                    if f[0] == "hs" and f[2] == "004")
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        (VHCI / "attach").write_text(f"{port} {theirs.fileno()} {0x10002} {FULL_SPEED}")
        theirs.close()  # the kernel holds its own reference
        self.sock, self.port = mine, port
        threading.Thread(target=self._serve, args=(mine,), daemon=True).start()

    def unplug(self):
        """Detaches the device, as pulling it out of the port does."""
        if self.port is None:
            return
        try:
            (VHCI / "detach").write_text(str(self.port))
        except OSError:
            pass
        self.sock.close()
        self.port = None

    @staticmethod
    def _reply(sock, seqnum, status, data=b"", packets=0, iso=b""):
        sock.sendall(struct.pack(">IIIIIiIIII", RET_SUBMIT, seqnum, 0, 0, 0, -status, len(data), 0, packets, 0) + bytes(8) + data + iso)

    def _serve(self, sock):
        """Reads the host's requests and answers them: control ones at once, isochronous ones when their time is over."""
        buf, pending = b"", collections.deque()  # pending: (seqnum, [(offset, length)]) in the order asked
        stream = {"on": False, "started": None, "sent": 0}
        try:
            while True:
                timeout = None
                if pending:
                    due = stream["started"] + PACKET_SECONDS * (stream["sent"] + len(pending[0][1]))
                    timeout = max(0.0, due - time.time())
                if select.select([sock], [], [], timeout)[0]:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buf += data
                    buf = self._requests(sock, buf, pending, stream)
                while pending and stream["started"] + PACKET_SECONDS * (stream["sent"] + len(pending[0][1])) <= time.time():
                    seqnum, packets = pending.popleft()
                    start = stream["started"] + PACKET_SECONDS * stream["sent"]
                    pcm = self._samples(start, PACKET_SAMPLES * len(packets)) if stream["on"] else b""
                    iso, at = b"", 0
                    for offset, length in packets:
                        size = min(length, 2 * PACKET_SAMPLES, len(pcm) - at)
                        iso += struct.pack(">IIIi", offset, length, size, 0)
                        at += size
                    stream["sent"] += len(packets)
                    self.packets += len(packets)
                    self._reply(sock, seqnum, 0, pcm[:at], len(packets), iso)
        except OSError:
            return

    def _requests(self, sock, buf, pending, stream):
        """Takes every whole request from `buf`; returns what is left."""
        while len(buf) >= 48:
            command, seqnum, _, direction, ep = struct.unpack(">IIIII", buf[:20])
            if command == CMD_UNLINK:
                victim = struct.unpack(">I", buf[20:24])[0]
                kept = [p for p in pending if p[0] != victim]
                status = -ECONNRESET if len(kept) < len(pending) else 0  # 0: it was answered already
                pending.clear()
                pending.extend(kept)
                sock.sendall(struct.pack(">IIIIIi", RET_UNLINK, seqnum, 0, 0, 0, status) + bytes(24))
                buf = buf[48:]
                continue
            _, length, _, count, _ = struct.unpack(">IIIiI", buf[20:40])
            extra = (length if direction == 0 else 0) + (16 * count if count > 0 else 0)
            if len(buf) < 48 + extra:
                break
            setup, body = buf[40:48], buf[48:48 + extra]
            buf = buf[48 + extra:]
            if ep != 0:
                packets = [struct.unpack(">IIIi", body[i:i + 16])[:2] for i in range(0, 16 * count, 16)]
                if stream["started"] is None:
                    stream["started"], stream["sent"] = time.time(), 0
                pending.append((seqnum, packets))
                continue
            self._control(sock, seqnum, setup, stream)
        return buf

    def _control(self, sock, seqnum, setup, stream):
        kind, request, value, index, length = struct.unpack("<BBHHH", setup)
        if kind == 0x80 and request == 6:  # GET_DESCRIPTOR
            which, number = value >> 8, value & 0xff
            answer = STRINGS.get(number) if which == 3 else {1: DEVICE, 2: CONFIG}.get(which)
            return self._reply(sock, seqnum, 0, answer[:length]) if answer else self._reply(sock, seqnum, EPIPE)
        if kind == 0x80 and request == 0:  # GET_STATUS
            return self._reply(sock, seqnum, 0, b"\0\0"[:length])
        if kind == 0x00 and request == 9:  # SET_CONFIGURATION
            return self._reply(sock, seqnum, 0)
        if kind == 0x01 and request == 11:  # SET_INTERFACE: alt 1 of interface 1 streams, from a new start
            if index == 1:
                stream.update(on=value == 1, started=None, sent=0)
            return self._reply(sock, seqnum, 0)
        if kind == 0x22 and request == 0x01:  # SET_CUR sampling frequency: the one rate, accepted
            return self._reply(sock, seqnum, 0)
        if kind == 0xa2 and request == 0x81:  # GET_CUR sampling frequency
            return self._reply(sock, seqnum, 0, RATE.to_bytes(3, "little")[:length])
        return self._reply(sock, seqnum, EPIPE)


def card():
    """The ALSA card snd-usb-audio made of the device, as plughw:CARD=ID,DEV=0, or None."""
    cards = pathlib.Path("/proc/asound/cards")
    for line in cards.read_text().splitlines() if cards.exists() else []:
        if PRODUCT in line:
            number = line.split()[0]
            return f"plughw:CARD={pathlib.Path(f'/proc/asound/card{number}/id').read_text().strip()},DEV=0"
    return None
