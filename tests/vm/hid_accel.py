"""A real IIO accelerometer for the tests: Linux's `uhid` turns this process into a HID device that describes itself
as a sensor hub with one 3D accelerometer (HID Sensor Usages), and the kernel's own `hid-sensor-hub` and
`hid-sensor-accel-3d` drivers make it an IIO device (sysfs channels, a trigger and a buffer), exactly as they do for
a laptop's sensor hub. The test says what it measures (in g, as a function of time); the device answers the
kernel's feature requests (report interval, power and reporting state) and sends an input report at each interval.
Runs inside the VM (tests/vm/run.sh) as root."""
import struct
import time

from uhid import FEATURE, UHIDDevice

REPORT_ID = 1
COUNTS_PER_G = 100  # unit exponent -2 on a value in g: the driver's scale is 0.0980665 m/s² per count


def _item(tag, value, size):
    """One short HID item: tag byte with the data size, then the value little-endian."""
    code = {0: 0, 1: 1, 2: 2, 4: 3}[size]
    return bytes([tag | code]) + (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little") if size else bytes([tag])


def descriptor():
    """The report descriptor: a physical collection of the sensor page's Accelerometer 3D with one feature report
    (report interval in ms, reporting state, power state) and one input report (acceleration X, Y, Z, 16-bit signed,
    in hundredths of a g)."""
    usage_page, usage, collection, end = 0x04, 0x08, 0xA0, 0xC0
    report_id, size, count, lmin, lmax, exponent, feature, input_ = 0x84, 0x74, 0x94, 0x14, 0x24, 0x54, 0xB0, 0x80
    d = _item(usage_page, 0x20, 1) + _item(usage, 0x73, 1) + _item(collection, 0x00, 1) + _item(report_id, REPORT_ID, 1)
    d += _item(usage, 0x030E, 2) + _item(lmin, 0, 1) + _item(lmax, 0x7FFFFFFF, 4) + _item(size, 32, 1) + _item(count, 1, 1)
    d += _item(exponent, 0, 1) + _item(feature, 0x02, 1)
    for property_usage in (0x0316, 0x0319):  # reporting state, power state: 0..5 as the driver writes them
        d += _item(usage, property_usage, 2) + _item(lmin, 0, 1) + _item(lmax, 5, 1) + _item(size, 8, 1) + _item(count, 1, 1)
        d += _item(feature, 0x02, 1)
    for axis in (0x0453, 0x0454, 0x0455):
        d += _item(usage, axis, 2) + _item(lmin, -32767, 2) + _item(lmax, 32767, 2) + _item(size, 16, 1) + _item(count, 1, 1)
        d += _item(exponent, 0x0E, 1) + _item(input_, 0x02, 1)
    return d + _item(end, 0, 0)


class Accelerometer(UHIDDevice):
    """The device, alive from `start()` to `close()`; `g(t)` gives (x, y, z) in g at `t` seconds (time.time())."""

    bus, vendor, product = 0x03, 0x1D6B, 0x0104

    def __init__(self, g, name="Blackbox test accelerometer"):
        super().__init__()
        self.g = g
        self.name = name
        self.interval_ms = 10
        self.tick_seconds = self.interval_ms / 1000
        self.feature = struct.pack("<IBB", self.interval_ms, 0, 0)
        self.sent = []  # (time.time(), x, y, z in counts) of every input report

    def descriptor(self):
        return descriptor()

    def _counts(self):
        x, y, z = self.g(time.time())
        return [max(-32767, min(32767, round(v * COUNTS_PER_G))) for v in (x, y, z)]

    def tick(self):
        counts = self._counts()
        self.send(struct.pack("<Bhhh", REPORT_ID, *counts))
        self.sent.append((time.time(), *counts))

    def get_report(self, number, rtype):
        return bytes([REPORT_ID]) + (self.feature if rtype == FEATURE else struct.pack("<hhh", *self._counts()))

    def set_report(self, number, rtype, data):
        if rtype == FEATURE and len(data) >= 7:
            self.feature = data[1:7]
            self.interval_ms = struct.unpack_from("<I", self.feature)[0] or self.interval_ms
            self.tick_seconds = max(1, self.interval_ms) / 1000
        return True


if __name__ == "__main__":
    # A look by hand inside the VM: python3 tests/vm/hid_accel.py
    import glob
    import os
    import subprocess
    subprocess.run(["modprobe", "-a", "uhid", "hid-sensor-hub", "hid-sensor-accel-3d"], check=True)
    device = Accelerometer(lambda t: (0.0, 0.0, 1.0)).start()
    time.sleep(3)
    for path in glob.glob("/sys/bus/iio/devices/iio:device*"):
        print(path, open(path + "/name").read().strip(), sorted(os.listdir(path)))
        for f in ("in_accel_scale", "in_accel_x_raw", "in_accel_z_raw", "sampling_frequency", "in_accel_sampling_frequency"):
            try:
                print(" ", f, open(f"{path}/{f}").read().strip())
            except OSError as e:
                print(" ", f, e)
    print("requests", device.requests[:20], "sent", len(device.sent))
    # The buffer through the driver's own trigger, as the daemon reads it.
    path = glob.glob("/sys/bus/iio/devices/iio:device*")[0]
    dev = "/dev/" + os.path.basename(path)
    print("trigger", open(path + "/trigger/current_trigger").read().strip(), sorted(os.listdir("/sys/bus/iio/devices")))
    for f in sorted(os.listdir(path + "/scan_elements")):
        print(" ", f, open(f"{path}/scan_elements/{f}").read().strip())
    trig = [t for t in glob.glob("/sys/bus/iio/devices/trigger*") if open(t + "/name").read().startswith("accel_3d")][0]
    open(path + "/trigger/current_trigger", "w").write(open(trig + "/name").read().strip())
    for ch in ("in_accel_x_en", "in_accel_y_en", "in_accel_z_en", "in_timestamp_en"):
        open(f"{path}/scan_elements/{ch}", "w").write("1")
    open(path + "/buffer/enable", "w").write("1")
    fd = os.open(dev, os.O_RDONLY)
    t0 = time.time()
    data = b""
    while time.time() - t0 < 2:
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            data += os.read(fd, 4096)
    print("buffer bytes in 2 s", len(data), data[:48].hex())
    os.close(fd)
    open(path + "/buffer/enable", "w").write("0")
    device.close()
    time.sleep(1)
    print("after unplug", glob.glob("/sys/bus/iio/devices/iio:device*"))
