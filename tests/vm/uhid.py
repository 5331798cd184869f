"""A HID device made by this process through Linux's `uhid`: the kernel sees it as plugged in on the bus the test
names, binds its own driver for the vendor and product, and sends the driver's report requests here. Subclasses say
what the device is: its report descriptor, how it answers GET_REPORT and SET_REPORT, and what it sends on its own.
Runs inside the VM (tests/vm/run.sh) as root."""
import os
import select
import struct
import threading
import time

UHID_DESTROY, UHID_START, UHID_STOP, UHID_OPEN, UHID_CLOSE, UHID_OUTPUT = 1, 2, 3, 4, 5, 6
UHID_GET_REPORT, UHID_GET_REPORT_REPLY, UHID_CREATE2, UHID_INPUT2, UHID_SET_REPORT, UHID_SET_REPORT_REPLY = 9, 10, 11, 12, 13, 14
EVENT_SIZE = 4380  # sizeof(struct uhid_event): a u32 type and the largest request (create2, 4372 bytes), padded
FEATURE, OUTPUT, INPUT = 0, 1, 2  # uhid's report types
BUS_USB, BUS_VIRTUAL = 0x03, 0x06


class UHIDDevice:
    """The device, alive from `start()` to `close()`."""

    name = "Blackbox test device"
    bus, vendor, product = BUS_VIRTUAL, 0, 0
    tick_seconds = None  # how often `tick()` runs once started (None: never)

    def __init__(self):
        self.requests = []  # (kind, report number, report type) the kernel asked
        self.started = threading.Event()
        self.stopping = threading.Event()
        self.fd = None
        self.thread = None

    def descriptor(self):
        raise NotImplementedError

    def get_report(self, number, rtype):
        """The report's bytes (report number first), or None to answer with an error."""
        return None

    def set_report(self, number, rtype, data):
        """Takes a report the driver wrote; returns True to accept it."""
        return True

    def tick(self):
        """Runs every `tick_seconds` once the kernel has started the device."""

    def send(self, report):
        """Sends an input report (report number first)."""
        self._write(UHID_INPUT2, struct.pack("<H", len(report)) + report)

    def start(self, timeout=30):
        self.fd = os.open("/dev/uhid", os.O_RDWR | os.O_CLOEXEC)
        rd = self.descriptor()
        body = struct.pack("<128s64s64sHHIIII", self.name.encode(), b"blackbox-test", b"", len(rd), self.bus, self.vendor, self.product, 1, 0)
        self._write(UHID_CREATE2, body + rd)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self.started.wait(timeout):
            raise AssertionError(f"the kernel did not start the uhid device {self.name!r}")
        return self

    def close(self):
        """Unplugs the device (the kernel removes what its driver made of it) and stops."""
        self.stopping.set()
        if self.thread:
            self.thread.join(5)
        if self.fd is not None:
            self._write(UHID_DESTROY, b"")
            os.close(self.fd)
            self.fd = None

    def _write(self, kind, body):
        os.write(self.fd, struct.pack("<I", kind) + body.ljust(EVENT_SIZE - 4, b"\0"))

    def _run(self):
        next_tick = time.monotonic()
        while not self.stopping.is_set():
            wait = 0.2 if self.tick_seconds is None else max(0.0, next_tick - time.monotonic())
            ready, _, _ = select.select([self.fd], [], [], wait)
            if ready:
                self._answer(os.read(self.fd, EVENT_SIZE))
            if self.tick_seconds is not None and self.started.is_set() and time.monotonic() >= next_tick:
                self.tick()
                next_tick += self.tick_seconds
                if next_tick < time.monotonic() - 0.1:
                    next_tick = time.monotonic()

    def _answer(self, event):
        kind = struct.unpack_from("<I", event)[0]
        if kind == UHID_START:
            self.started.set()
        elif kind == UHID_GET_REPORT:
            ident, number, rtype = struct.unpack_from("<IBB", event, 4)
            self.requests.append(("get", number, rtype))
            data = self.get_report(number, rtype)
            if data is None:
                self._write(UHID_GET_REPORT_REPLY, struct.pack("<IHH", ident, 5, 0))  # EIO
            else:
                self._write(UHID_GET_REPORT_REPLY, struct.pack("<IHH", ident, 0, len(data)) + data)
        elif kind == UHID_SET_REPORT:
            ident, number, rtype, size = struct.unpack_from("<IBBH", event, 4)
            self.requests.append(("set", number, rtype))
            ok = self.set_report(number, rtype, event[12:12 + size])
            self._write(UHID_SET_REPORT_REPLY, struct.pack("<IH", ident, 0 if ok else 5))
