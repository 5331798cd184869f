"""A drive as NMEA 0183 ($GPRMC, $GPGGA, $GPGSA and $GPGSV with their checksums), fed to a real gpsd through a pseudo-terminal: what a
USB GPS receiver sends. The test knows every point it sent, to compare with what Blackbox recorded."""
import math
import os
import subprocess
import threading
import time
import tty

from helpers import free_port, listening, wait_for

EARTH = 6371000.0  # metres (the spherical Earth the drive is laid out on; errors are far below the 1 m checked)


def checksum(body):
    value = 0
    for c in body.encode():
        value ^= c
    return f"{value:02X}"


def sentence(body):
    return f"${body}*{checksum(body)}\r\n"


def angle(value, hemispheres, width):
    """ddmm.mmmmm / dddmm.mmmmm and its hemisphere letter."""
    h = hemispheres[0] if value >= 0 else hemispheres[1]
    value = abs(value)
    degrees = int(value)
    minutes = (value - degrees) * 60
    return f"{degrees:0{width}d}{minutes:08.5f}", h


# Nine satellites in view, all used: (PRN, elevation, azimuth, signal dB-Hz). gpsd sends its SKY report only after
# GSA (which are used) and GSV (which are seen).
SATELLITES = [(prn, 20 + 5 * prn, 30 * prn % 360, 40) for prn in range(1, 10)]


def sky_sentences():
    """GSA and GSV for the nine satellites."""
    used = ",".join(f"{prn:02d}" for prn, *_ in SATELLITES) + "," * (12 - len(SATELLITES))
    out = [sentence(f"GPGSA,A,3,{used},1.5,0.9,1.2")]
    for k in range(0, len(SATELLITES), 4):
        part = ",".join("%02d,%02d,%03d,%02d" % sat for sat in SATELLITES[k:k + 4])
        out.append(sentence(f"GPGSV,{(len(SATELLITES) + 3) // 4},{k // 4 + 1},{len(SATELLITES):02d},{part}"))
    return out


def fix_sentences(t, lat, lon, speed_ms, heading, fix=True):
    """RMC, GGA, GSA and GSV for one moment (`t` Unix seconds); RMC and GGA alone without a fix."""
    g = time.gmtime(t)
    hms = time.strftime("%H%M%S", g) + f".{int(round(t % 1 * 100)) % 100:02d}"
    dmy = time.strftime("%d%m%y", g)
    la, lah = angle(lat, "NS", 2)
    lo, loh = angle(lon, "EW", 3)
    if not fix:
        return [sentence(f"GPRMC,{hms},V,,,,,,,{dmy},,,N"), sentence(f"GPGGA,{hms},,,,,0,00,99.9,,M,,M,,")]
    knots = speed_ms / 0.514444
    return [sentence(f"GPRMC,{hms},A,{la},{lah},{lo},{loh},{knots:.2f},{heading:.1f},{dmy},,,A"),
            sentence(f"GPGGA,{hms},{la},{lah},{lo},{loh},1,09,0.9,45.0,M,20.0,M,,")] + sky_sentences()


def move(lat, lon, metres, heading):
    """The point `metres` away from (lat, lon) towards `heading` degrees."""
    d = metres / EARTH
    h = math.radians(heading)
    la1, lo1 = math.radians(lat), math.radians(lon)
    la2 = math.asin(math.sin(la1) * math.cos(d) + math.cos(la1) * math.sin(d) * math.cos(h))
    lo2 = lo1 + math.atan2(math.sin(h) * math.sin(d) * math.cos(la1), math.cos(d) - math.sin(la1) * math.sin(la2))
    return math.degrees(la2), math.degrees(lo2)


def distance(a, b):
    """Metres between two (lat, lon) points (haversine)."""
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * EARTH * math.asin(math.sqrt(h))


class Drive:
    """Legs of (seconds, km/h, heading, fix) driven from Seoul City Hall, one report a second; `sent` holds
    (unix time, lat, lon, speed m/s, heading, fix) of each."""

    def __init__(self, legs, start=(37.566535, 126.977969)):
        self.legs = legs
        self.position = start
        self.sent = []
        self.leg_started = []

    def run(self, write, stop):
        for seconds, kmh, heading, fix in self.legs:
            self.leg_started.append(time.time())
            for _ in range(seconds):
                if stop.is_set():
                    return
                t = time.time()
                speed = kmh / 3.6
                self.sent.append((t, *self.position, speed, heading, fix))
                for s in fix_sentences(t, *self.position, speed, heading, fix):
                    write(s.encode())
                self.position = move(*self.position, speed, heading)
                time.sleep(max(0.0, t + 1 - time.time()))


class GPSD:
    """A real gpsd (Debian's) reading a pseudo-terminal that the test writes NMEA into; `restart()` kills and starts it."""

    def __init__(self, tmp):
        self.port = free_port()
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.device = os.ttyname(self.slave)
        self.control = str(tmp / "gpsd.sock")
        self.log = open(tmp / "gpsd.log", "ab")
        self.proc = None
        self.start()

    def start(self):
        # -N foreground, -n poll the device without waiting for a client, -b read only (never reconfigure it).
        self.proc = subprocess.Popen(["gpsd", "-N", "-n", "-b", "-S", str(self.port), "-F", self.control, self.device],
                                     stdout=self.log, stderr=self.log)
        wait_for(lambda: listening(self.port), 10, "gpsd listening")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self):
        self.stop()
        self.start()

    def write(self, data):
        os.write(self.master, data)

    def close(self):
        self.stop()
        self.log.close()
        os.close(self.master)
        os.close(self.slave)


def feed(gpsd, drive):
    """Runs `drive` into `gpsd` on a thread; returns (thread, stop event)."""
    stop = threading.Event()
    thread = threading.Thread(target=drive.run, args=(gpsd.write, stop), daemon=True)
    thread.start()
    return thread, stop
