"""A USB microphone that Linux's own snd-usb-audio drives, for the VM tests: a USB Audio Class 1 device (mono, 16-bit,
48 kHz, one isochronous IN endpoint at full speed) on the kernel's USB/IP host controller (tests/vm/usbip_device.py),
which the driver makes an ALSA card as for a microphone on a USB port.

The device sends silence, with a 10 ms 2 kHz burst at each wall-clock time it is given. It keeps its own clock, a
millisecond a packet from when streaming began, and answers each packet when its millisecond is over: the sound leaves
it at the pace and time a real microphone's would (late on a busy machine, never short)."""
import array
import math
import pathlib
import struct
import threading
import time

from usbip_device import FULL_SPEED, Device, string_descriptor

RATE = 48000
PRODUCT = "Blackbox Test Microphone"
PACKET_SECONDS = 0.001
PACKET_SAMPLES = int(RATE * PACKET_SECONDS)

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
STRINGS = {0: bytes([4, 3, 0x09, 0x04]), 1: string_descriptor("blackbox tests"), 2: string_descriptor(PRODUCT), 3: string_descriptor("0001")}


class Microphone(Device):
    """The device; `plug()` attaches it, `unplug()` takes it away, `click_at(times)` schedules bursts (wall clock)."""

    DEVICE, CONFIG, STRINGS, SPEED, MODULES = DEVICE, CONFIG, STRINGS, FULL_SPEED, ("snd-usb-audio",)

    def __init__(self):
        super().__init__()
        self.clicks = []
        self.lock = threading.Lock()
        self.packets = 0  # answered since the start
        self.plugged()

    def plugged(self):
        self.streaming, self.started, self.sent = False, None, 0

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

    def set_interface(self, interface, alternate):
        if interface == 1:  # alt 1 streams, from a new start
            self.streaming, self.started, self.sent = alternate == 1, None, 0

    def due(self, transfer):
        if self.started is None:
            self.started = time.time()
        return self.started + PACKET_SECONDS * (self.sent + len(transfer.packets))

    def answer(self, transfer):
        pcm = self._samples(self.started + PACKET_SECONDS * self.sent, PACKET_SAMPLES * len(transfer.packets)) if self.streaming else b""
        lengths, at = [], 0
        for _, length in transfer.packets:
            lengths.append(min(length, 2 * PACKET_SAMPLES, len(pcm) - at))
            at += lengths[-1]
        self.sent += len(transfer.packets)
        self.packets += len(transfer.packets)
        return pcm[:at], lengths

    def class_request(self, kind, request, value, index, length, data):
        if kind == 0x22 and request == 0x01:  # SET_CUR sampling frequency: the one rate, accepted
            return b""
        if kind == 0xa2 and request == 0x81:  # GET_CUR sampling frequency
            return RATE.to_bytes(3, "little")
        return None


def card():
    """The ALSA card snd-usb-audio made of the device, as plughw:CARD=ID,DEV=0, or None."""
    cards = pathlib.Path("/proc/asound/cards")
    for line in cards.read_text().splitlines() if cards.exists() else []:
        if PRODUCT in line:
            number = line.split()[0]
            try:
                return f"plughw:CARD={pathlib.Path(f'/proc/asound/card{number}/id').read_text().strip()},DEV=0"
            except OSError:
                # Listed a moment before its folder appears, or after it went (seen in the VM); and while the card is
                # being disconnected ALSA answers a read of its files with EIO (a CI run).
                return None
    return None
