"""A real GPIO chip for the tests: through `uhid` this process is a Silicon Labs CP2112 (USB 10c4:ea90), a HID USB to
SMBus bridge with 8 GPIO lines, and the kernel's own `hid-cp2112` driver makes it a gpiochip (label `cp2112_gpio`)
with interrupts, as it does for the real part on a USB port. The driver reads the lines' levels with a GPIO_GET
feature report (every 10 jiffies while a line is watched for edges); this device answers with what the test set.
Runs inside the VM (tests/vm/run.sh) as root."""
import struct
import threading
import time

from uhid import BUS_USB, FEATURE, UHIDDevice

GPIO_CONFIG, GPIO_GET, GPIO_SET, GET_VERSION_INFO, SMBUS_CONFIG, LOCK_BYTE = 0x02, 0x03, 0x04, 0x05, 0x06, 0x20


class CP2112(UHIDDevice):
    """The bridge; `set(offset, high)` sets a line's electrical level, `gets` counts the driver's level reads."""

    name = "Blackbox test CP2112"
    bus, vendor, product = BUS_USB, 0x10C4, 0xEA90

    def __init__(self, levels=0xFF):
        super().__init__()
        self.lock = threading.Lock()
        self.levels = levels  # bit N: line N high
        self.direction = 0x00  # all inputs
        self.gets = 0
        self.bouncing = None  # (line, from, until, period) on time.monotonic(): see bounce()
        self.smbus = struct.pack(">BIBBHHBH", SMBUS_CONFIG, 100_000, 0x02, 0, 0, 0, 0, 0)

    def descriptor(self):
        # Vendor-defined reports, as the real part's: the driver talks to it through raw feature reports only.
        return bytes([0x06, 0x00, 0xFF, 0x09, 0x01, 0xA1, 0x01, 0x85, 0x01, 0x75, 0x08, 0x95, 0x3F, 0x15, 0x00, 0x26, 0xFF, 0x00,
                      0x09, 0x01, 0x81, 0x02, 0xC0])

    def set(self, offset, high):
        with self.lock:
            self.bouncing = None
            self.levels = self.levels | (1 << offset) if high else self.levels & ~(1 << offset)

    def bounce(self, offset, seconds=0.02, period=0.002):
        """Closes a contact to ground that bounces: for `seconds` from now a read finds the line low or high by turns of
        `period`, on this device's own clock, and low after. The window is the device's, not the caller's: the driver
        reads every 10 jiffies (40 ms at Debian's 250 Hz), so it finds one level at most inside 20 ms, however late this
        process or the test that drives it runs (under emulation a Python loop of 2 ms sleeps took over 40 ms, and the
        driver read low, high, low: two presses)."""
        with self.lock:
            now = time.monotonic()
            self.bouncing = (offset, now, now + seconds, period)
            self.levels &= ~(1 << offset)

    def _levels(self):
        """The levels a read finds now (under the lock)."""
        if self.bouncing is None:
            return self.levels
        offset, start, until, period = self.bouncing
        now = time.monotonic()
        if now >= until:
            self.bouncing = None
            return self.levels
        return self.levels | (1 << offset) if int((now - start) / period) % 2 == 1 else self.levels

    def get_report(self, number, rtype):
        if rtype != FEATURE:
            return None
        with self.lock:
            if number == GET_VERSION_INFO:
                return bytes([GET_VERSION_INFO, 0x0C, 0x03])
            if number == SMBUS_CONFIG:
                return self.smbus
            if number == LOCK_BYTE:
                return bytes([LOCK_BYTE, 0xFF])  # nothing locked
            if number == GPIO_CONFIG:
                return bytes([GPIO_CONFIG, self.direction, 0x00, 0x00, 0x00])
            if number == GPIO_GET:
                self.gets += 1
                return bytes([GPIO_GET, self._levels()])
        return None

    def set_report(self, number, rtype, data):
        with self.lock:
            if number == SMBUS_CONFIG:
                self.smbus = bytes(data[:14])
            elif number == GPIO_CONFIG and len(data) >= 2:
                self.direction = data[1]
            elif number == GPIO_SET and len(data) >= 3:
                self.levels = (self.levels & ~data[2]) | (data[1] & data[2])
        return True


if __name__ == "__main__":
    # A look by hand inside the VM: python3 tests/vm/hid_cp2112.py
    import glob
    import subprocess
    import time
    subprocess.run(["modprobe", "-a", "uhid", "hid-cp2112"], check=True)
    chip = CP2112().start()
    time.sleep(2)
    print(sorted(glob.glob("/dev/gpiochip*")), [open(p + "/label").read().strip() for p in glob.glob("/sys/bus/gpio/devices/*/")]
          if glob.glob("/sys/bus/gpio/devices/*/label") else glob.glob("/sys/class/gpio/*"))
    print("requests", chip.requests[:20])
    chip.close()
