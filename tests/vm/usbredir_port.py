"""A USB device of tests/vm/usbip_device.py on the VM's own xHCI controller instead of USB/IP, for libcamera: its
uvcvideo pipeline handler names a camera after the firmware (ACPI) node of the USB controller it hangs from, and the
USB/IP controller, a platform device, has none, so libcamera skips every camera on it ("Can not find controller ID").
run.sh gives the guest QEMU's qemu-xhci (a PCI device, under the ACPI-described PCI root) with a usb-redir device
whose character device is joined to the virtio-serial port PORT; this side speaks the usbredir protocol (usbredir's
usb-redirection-protocol.md, version 0.7: little-endian) as usbredir's own host side would for a device on a USB port.
QEMU forwards the guest's transfers to it, and Linux's xhci-hcd, uvcvideo and libcamera see a USB device on a PCI
controller. Unplugging sends a disconnect (the guest sees the device go); plugging connects it
again. The port stays open for the whole VM run: QEMU says hello once per connection of its character device."""
import collections
import os
import select
import struct
import threading
import time

from usbip_device import HIGH_SPEED, Transfer

PORT = "/dev/virtio-ports/usbredir"
(HELLO, CONNECT, DISCONNECT, RESET, INTERFACE_INFO, EP_INFO, SET_CONFIGURATION, GET_CONFIGURATION,
 CONFIGURATION_STATUS, SET_ALT_SETTING, GET_ALT_SETTING, ALT_SETTING_STATUS) = range(12)
CANCEL_DATA_PACKET = 21
CONTROL_PACKET, BULK_PACKET = 100, 101
# Capabilities this side has: the device's version in the connect packet, endpoints' packet sizes in ep_info, 64-bit
# packet ids and 32-bit bulk lengths (QEMU's xHCI wants the last three).
CAPS = (1 << 1) | (1 << 4) | (1 << 5) | (1 << 6)
SUCCESS, CANCELLED, STALL = 0, 1, 4
INVALID = 255


def _index(address):
    """usbredir's endpoint index: OUT endpoints 0-15, IN endpoints 16-31."""
    return ((address & 0x80) >> 3) | (address & 0x0F)


def layout(config, alternates):
    """The configuration descriptor's interfaces [(number, class, subclass, protocol)] and the endpoints of each
    interface's chosen alternate setting {address: (type, interval, interface, max packet size)}."""
    interfaces, endpoints, current, at = [], {}, None, 0
    while at + 2 <= len(config) and config[at] > 0:
        d = config[at:at + config[at]]
        if d[1] == 4:  # interface
            current = d[2] if d[3] == alternates.get(d[2], 0) else None
            if d[3] == 0:
                interfaces.append((d[2], d[5], d[6], d[7]))
        elif d[1] == 5 and current is not None:  # endpoint
            endpoints[d[2]] = (d[3] & 3, d[6], current, struct.unpack("<H", d[4:6])[0] & 0x7FF)
        at += d[0]
    return interfaces, endpoints


class RedirPort:
    """One usbredir connection to QEMU, serving `device` (a usbip_device.Device) while it is plugged."""

    def __init__(self, device, path=PORT):
        self.device = device
        self.fd = os.open(path, os.O_RDWR)
        self.lock = threading.Lock()  # writes and the state below, shared by the serving thread and plug/unplug
        self.connected = False
        self.configuration = 0
        self.alternates = {}
        self.pending = collections.deque()  # bulk transfers waiting for their time, oldest first
        # Each side's hello goes with a 32-bit id; once both have said 64-bit ids, every later packet has them.
        self.header = struct.Struct("<III")
        first, self.buf = self._hello()
        if first:
            self._send(HELLO, 0, b"blackbox tests".ljust(64, b"\0") + struct.pack("<I", CAPS))
        self.header = struct.Struct("<IIQ")
        threading.Thread(target=self._serve, daemon=True).start()

    def _hello(self):
        """Reads QEMU's hello (sent when its side connected, so waiting for us): (whether it came, what came after it).
        A port opened before in this VM run had it already: then nothing comes, QEMU has had our hello (it refuses a
        second one) and both sides use 64-bit ids."""
        buf = b""
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            if select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
                buf += os.read(self.fd, 1 << 16)
            if len(buf) >= 12:
                kind, length, _ = struct.unpack("<III", buf[:12])
                if kind != HELLO:
                    raise RuntimeError(f"usbredir: QEMU's first packet is of type {kind}, not hello")
                if len(buf) >= 12 + length:
                    return True, buf[12 + length:]
        return False, buf

    def plug(self):
        """Connects the device: the guest's xHCI sees it arrive on a port."""
        with self.lock:
            self.device.plugged()
            self.configuration, self.alternates, self.connected = 0, {}, True
            self._info()
            d = self.device.DEVICE
            speed = 2 if self.device.SPEED == HIGH_SPEED else 1  # usbredir: 1 full, 2 high
            self._send(CONNECT, 0, struct.pack("<BBBBHHH", speed, d[4], d[5], d[6], *struct.unpack("<HHH", d[8:14])))

    def unplug(self):
        """Disconnects the device, as pulling it out of the port does."""
        with self.lock:
            if self.connected:
                self.connected = False
                self.pending.clear()
                self._send(DISCONNECT, 0)

    # The protocol.
    def _send(self, kind, packet_id, body=b""):
        data = self.header.pack(kind, len(body), packet_id) + body
        while data:
            data = data[os.write(self.fd, data):]

    def _info(self):
        """interface_info and ep_info for the configuration and alternate settings chosen now."""
        interfaces, endpoints = layout(self.device.CONFIG, self.alternates)
        columns = [bytes(n[i] for n in interfaces).ljust(32, b"\0") for i in range(4)]
        self._send(INTERFACE_INFO, 0, struct.pack("<I", len(interfaces)) + b"".join(columns))
        kinds, intervals, owners, sizes = [INVALID] * 32, [0] * 32, [0] * 32, [0] * 32
        kinds[0] = kinds[16] = 0  # endpoint 0, both ways: control
        sizes[0] = sizes[16] = self.device.DEVICE[7]
        for address, (kind, interval, owner, size) in endpoints.items():
            i = _index(address)
            kinds[i], intervals[i], owners[i], sizes[i] = kind, interval, owner, size
        self._send(EP_INFO, 0, bytes(kinds) + bytes(intervals) + bytes(owners) + struct.pack("<32H", *sizes))

    def _serve(self):
        buf, size = self.buf, self.header.size
        try:
            while True:
                while len(buf) >= size:
                    kind, length, packet_id = self.header.unpack(buf[:size])
                    if len(buf) < size + length:
                        break
                    body, buf = buf[size:size + length], buf[size + length:]
                    with self.lock:
                        self._packet(kind, packet_id, body)
                with self.lock:
                    while self.pending and ((due := self.device.due(self.pending[0])) is None or due <= time.time()):
                        transfer = self.pending.popleft()
                        data, _ = self.device.answer(transfer)
                        self._bulk_reply(transfer, SUCCESS, data)
                    timeout = None
                    if self.pending:
                        due = self.device.due(self.pending[0])
                        timeout = 0.0 if due is None else max(0.0, due - time.time())
                if select.select([self.fd], [], [], timeout)[0]:
                    buf += os.read(self.fd, 1 << 16)
        except OSError:
            return

    def _bulk_reply(self, transfer, status, data=b""):
        self._send(BULK_PACKET, transfer.seqnum,
                   struct.pack("<BBHIH", transfer.endpoint, status, len(data) & 0xFFFF, 0, len(data) >> 16) + data)

    def _packet(self, kind, packet_id, body):
        if not self.connected:
            return  # QEMU counts whatever was in flight as cancelled once the device is gone
        if kind == RESET:
            self.device.plugged()
            self.alternates = {}
        elif kind == SET_CONFIGURATION:
            self.configuration, self.alternates = body[0], {}
            self._info()
            self._send(CONFIGURATION_STATUS, packet_id, bytes([SUCCESS, self.configuration]))
        elif kind == GET_CONFIGURATION:
            self._send(CONFIGURATION_STATUS, packet_id, bytes([SUCCESS, self.configuration]))
        elif kind == SET_ALT_SETTING:
            interface, alternate = body[0], body[1]
            self.alternates[interface] = alternate
            self.device.set_interface(interface, alternate)
            self._info()
            self._send(ALT_SETTING_STATUS, packet_id, bytes([SUCCESS, interface, alternate]))
        elif kind == GET_ALT_SETTING:
            self._send(ALT_SETTING_STATUS, packet_id, bytes([SUCCESS, body[0], self.alternates.get(body[0], 0)]))
        elif kind == CONTROL_PACKET:
            endpoint, request, requesttype, _, value, index, length = struct.unpack("<BBBBHHH", body[:10])
            data = body[10:]
            answer = self.device.control(struct.pack("<BBHHH", requesttype, request, value, index, length), data)
            status = STALL if answer is None else SUCCESS
            answer = answer or b""
            done = len(answer) if requesttype & 0x80 else (0 if status else len(data))
            self._send(CONTROL_PACKET, packet_id,
                       struct.pack("<BBBBHHH", endpoint, request, requesttype, status, value, index, done) + answer)
        elif kind == BULK_PACKET:
            endpoint, _, length, _, high = struct.unpack("<BBHIH", body[:10])
            self.pending.append(Transfer(packet_id, endpoint, length | high << 16, []))
        elif kind == CANCEL_DATA_PACKET:
            for transfer in [t for t in self.pending if t.seqnum == packet_id]:
                self.pending.remove(transfer)
                self._bulk_reply(transfer, CANCELLED)
