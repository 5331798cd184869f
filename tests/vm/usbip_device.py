"""USB devices written in Python that the kernel's own drivers take for real ones, for the VM tests: each is attached
to Linux's USB/IP host controller (vhci-hcd, in Debian's kernel) over a socket pair, so the kernel enumerates it and
binds its class driver (snd-usb-audio, uvcvideo) exactly as for a device on a USB port. The gadget route (dummy_hcd +
libcomposite) cannot serve cameras or microphones on Linux 6.1: dummy_hcd offers no isochronous endpoints ("The
emulation does not include isochronous transfers!"), so usb_f_uac2 and usb_f_uvc never bind.

`Device` speaks USB/IP (Linux's drivers/usb/usbip/usbip_common.h: 48-byte big-endian headers) and the standard
requests; a subclass gives its descriptors, its class requests and its data. One thread serves a device from one select
loop: drivers ask for isochronous data a URB a millisecond, and threads handing requests over fell behind in an
emulated VM. Unplugging detaches the port (the kernel sees the device go); plugging attaches it again."""
import collections
import pathlib
import select
import socket
import struct
import subprocess
import threading
import time

VHCI = pathlib.Path("/sys/devices/platform/vhci_hcd.0")
FULL_SPEED, HIGH_SPEED = 2, 3  # enum usb_device_speed
CMD_SUBMIT, CMD_UNLINK, RET_SUBMIT, RET_UNLINK = 1, 2, 3, 4
EPIPE, ECONNRESET = 32, 104


def string_descriptor(text):
    data = text.encode("utf-16-le")
    return bytes([2 + len(data), 3]) + data


class Transfer:
    """One URB the host submitted to a data endpoint, waiting for its answer."""

    def __init__(self, seqnum, endpoint, length, packets):
        self.seqnum, self.endpoint, self.length, self.packets = seqnum, endpoint, length, packets  # packets: [(offset, length)]


class Device:
    """A USB device on vhci-hcd. Subclasses set DEVICE, CONFIG, STRINGS, SPEED and MODULES and implement `due`,
    `answer` and, for their class's requests, `class_request`."""

    DEVICE = CONFIG = b""
    STRINGS = {}
    SPEED = FULL_SPEED
    MODULES = ()

    def __init__(self):
        self.sock = None
        self.port = None

    def plug(self):
        """Attaches the device to a free port (loading vhci-hcd and the class driver as udev would)."""
        if not VHCI.exists():
            subprocess.run(["modprobe", "-a", "vhci-hcd", *self.MODULES], check=True, timeout=60)
        for _ in range(50):
            if (VHCI / "status").exists():
                break
            time.sleep(0.1)
        port = next(int(f[1]) for f in (line.split() for line in (VHCI / "status").read_text().splitlines()[1:])
                    if f[0] == "hs" and f[2] == "004")
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.plugged()
        (VHCI / "attach").write_text(f"{port} {theirs.fileno()} {0x10002} {self.SPEED}")
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

    # What a subclass says.
    def plugged(self):
        """Called before each attach: the device starts afresh."""

    def due(self, transfer):
        """When `transfer` (the oldest waiting) is to be answered (time.time()), or None for at once."""
        return None

    def answer(self, transfer):
        """(data, actual lengths of its packets or None) for a data transfer whose time has come."""
        raise NotImplementedError

    def class_request(self, kind, request, value, index, length, data):
        """The answer to a class or vendor request (bytes; b"" for none), or None to stall it."""
        return None

    def set_interface(self, interface, alternate):
        """The host chose `alternate` of `interface`."""

    # The protocol.
    @staticmethod
    def _reply(sock, seqnum, status, data=b"", lengths=None, packets=(), written=0):
        """RET_SUBMIT: `data` for an IN transfer, or the count of bytes `written` for an OUT one (whose data came with it)."""
        iso = b"".join(struct.pack(">IIIi", offset, length, actual, 0) for (offset, length), actual in zip(packets, lengths or []))
        sock.sendall(struct.pack(">IIIIIiIIII", RET_SUBMIT, seqnum, 0, 0, 0, -status, len(data) or written, 0, len(packets), 0)
                     + bytes(8) + data + iso)

    def _serve(self, sock):
        buf, pending = b"", collections.deque()
        try:
            while True:
                timeout = None
                if pending:
                    due = self.due(pending[0])
                    timeout = 0.0 if due is None else max(0.0, due - time.time())
                if select.select([sock], [], [], timeout)[0]:
                    data = sock.recv(1 << 16)
                    if not data:
                        return
                    buf = self._requests(sock, buf + data, pending)
                while pending and ((due := self.due(pending[0])) is None or due <= time.time()):
                    transfer = pending.popleft()
                    data, lengths = self.answer(transfer)
                    self._reply(sock, transfer.seqnum, 0, data, lengths, transfer.packets)
        except OSError:
            return

    def _requests(self, sock, buf, pending):
        """Takes every whole request from `buf`; returns what is left."""
        while len(buf) >= 48:
            command, seqnum, _, direction, endpoint = struct.unpack(">IIIII", buf[:20])
            if command == CMD_UNLINK:
                victim = struct.unpack(">I", buf[20:24])[0]
                kept = [t for t in pending if t.seqnum != victim]
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
            if endpoint != 0:
                start = length if direction == 0 else 0
                packets = [struct.unpack(">IIIi", body[i:i + 16])[:2] for i in range(start, start + 16 * max(count, 0), 16)]
                pending.append(Transfer(seqnum, endpoint, length, packets))
            else:
                self._control(sock, seqnum, setup, body[:length] if direction == 0 else b"")
        return buf

    def _control(self, sock, seqnum, setup, data):
        answer = self.control(setup, data)
        if answer is None:
            return self._reply(sock, seqnum, EPIPE)
        if setup[0] & 0x80:
            self._reply(sock, seqnum, 0, answer)
        else:
            self._reply(sock, seqnum, 0, written=len(data))

    def control(self, setup, data):
        """The answer to a control request on endpoint 0 (whichever way it came): the data of an IN request, b"" for an
        OUT request done, or None to stall it."""
        kind, request, value, index, length = struct.unpack("<BBHHH", setup)
        answer = None
        if kind == 0x80 and request == 6:  # GET_DESCRIPTOR
            which, number = value >> 8, value & 0xff
            answer = self.STRINGS.get(number) if which == 3 else {1: self.DEVICE, 2: self.CONFIG}.get(which)
        elif kind in (0x80, 0x81, 0x82) and request == 0:  # GET_STATUS
            answer = b"\0\0"
        elif kind == 0x00 and request == 9 or kind == 0x02 and request == 1:  # SET_CONFIGURATION, CLEAR_FEATURE(halt)
            answer = b""
        elif kind == 0x01 and request == 11:  # SET_INTERFACE
            self.set_interface(index, value)
            answer = b""
        elif kind & 0x60:  # class or vendor
            answer = self.class_request(kind, request, value, index, length, data)
        return None if answer is None else answer[:length] if kind & 0x80 else b""
