"""The ignition line and the save button (#27) through a real kernel driver: a uhid device that Linux's hid-cp2112
makes a gpiochip with interrupts (tests/vm/hid_cp2112.py), the lines active low as a button to ground and an
optocoupler on the ignition wire are, and the accelerometer of tests/vm/hid_accel.py beside it. A bouncing press
saves one protected manual clip; ignition off parks the camera within a second (full-rate recording gives way to a
time-lapse of a keyframe a second, the parking threshold applies: a knock too small to count while driving saves a
parking clip), the timeline shades the
parked span, and after `parking_shutdown_after` the power-off command runs (a script standing in for
`systemctl poweroff`, which would end the VM); ignition on records continuously again. Then the chip is unplugged
and plugged in again. H.264, the product's default. Runs inside the VM (tests/vm/run.sh)."""
import json
import math
import pathlib
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "e2e"))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from conftest import Daemon  # noqa: E402
from hid_accel import Accelerometer  # noqa: E402
from hid_cp2112 import CP2112  # noqa: E402
from helpers import camera_status, get, status, timeline, wait_for  # noqa: E402
from test_mqtt import Broker, Listener, mqtt_config  # noqa: E402
from test_recording import decodes_cleanly  # noqa: E402

import pytest  # noqa: E402

IGNITION, BUTTON = 0, 1
KNOCK = 1.35  # g: over the parking threshold (1.2), under the driving one (1.5)


@pytest.fixture(scope="module", autouse=True)
def drivers():
    r = subprocess.run(["modprobe", "-a", "uhid", "hid-cp2112", "hid-sensor-hub", "hid-sensor-accel-3d"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        pytest.fail(f"the HID drivers did not load: run these tests through tests/vm/run.sh ({r.stderr.strip()})", pytrace=False)


class Car:
    """What the accelerometer feels: gravity at 30° and, at each time in `knocks`, 50 ms of KNOCK g along x."""

    def __init__(self):
        self.knocks = []

    def __call__(self, t):
        x = KNOCK if any(k <= t < k + 0.05 for k in self.knocks) else 0.0
        return x, math.sin(math.radians(30)), math.cos(math.radians(30))

    def knock(self):
        self.knocks.append(time.time() + 0.2)
        return self.knocks[-1]


def gpio(d):
    return status(d)["gpio"]


def keyframes(path):
    """Whether each video frame of the file is a keyframe, in order (ffprobe)."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=flags", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, timeout=60).stdout.split()
    return ["K" in flags for flags in out]


def press(chip):
    """Presses the button (active low: the line goes low) with 20 ms of contact bounce first, holds it 0.4 s, lets go."""
    chip.bounce(BUTTON, seconds=0.02)
    time.sleep(0.4)
    chip.set(BUTTON, True)


def test_button_ignition_and_parking_through_a_real_gpiochip(tmp_path):
    chip = CP2112(levels=0xFF)  # pulled up: ignition... high is off; we start driving below
    chip.set(IGNITION, False)  # active low: the engine runs
    chip.start()
    car = Car()
    accel = Accelerometer(car).start()
    broker = Broker(tmp_path)
    listener = Listener(broker.port)
    marker = tmp_path / "powered-off"
    config = tmp_path / "blackbox.toml"
    config.write_text(mqtt_config(tmp_path, broker.port).read_text() + f"""
[gpio]
ignition = "cp2112_gpio:{IGNITION}"
button = "cp2112_gpio:{BUTTON}"
active_low = true
parking_shutdown_after = "4s"
parking_timelapse = 1
# Stands in for systemctl poweroff, which would end the VM the test runs in.
shutdown_command = ["sh", "-c", "date +%s.%N > {marker}"]

[gsensor]
device = "accel_3d"

# The test pattern moves all the time: parked, it would be one long motion clip. Impacts alone here.
[motion]
enabled = false
""")
    d = Daemon("--config", str(config), "--camera", "front=testpattern:320x240@10", "--segment-seconds", "10",
               "--event-pre", "2", "--event-post", "2", recordings=tmp_path)
    try:
        wait_for(lambda: gpio(d)["ignitionState"] == "on" and gpio(d)["button"].get("active") is False, 60, "the lines read")
        g = gpio(d)
        assert not g["parked"] and g["ignition"]["method"] == "edges" and g["ignition"]["device"].startswith("/dev/gpiochip"), g
        wait_for(lambda: status(d)["gsensor"]["gravityLearned"], 60, "the accelerometer read")
        wait_for(lambda: camera_status(d)["recording"]["state"] == "recording", 30, "continuous recording")

        # A bouncing press is one press: one protected manual clip.
        press(chip)
        wait_for(lambda: gpio(d)["presses"] >= 1, 10, "the press")
        time.sleep(1)
        assert gpio(d)["presses"] == 1 and gpio(d)["button"]["changes"] == 2, gpio(d)  # pressed, released
        wait_for(lambda: any(not e["writing"] for e in timeline(d)["events"]), 30, "the manual clip finished")
        clips = timeline(d)["events"]
        assert len(clips) == 1 and clips[0]["type"] == "manual" and clips[0]["reason"] == "button" and clips[0]["protected"], clips
        assert clips[0]["path"].endswith("_front_manual.mp4") and decodes_cleanly(tmp_path / clips[0]["path"]), clips

        # While driving, a 1.35 g knock is no impact.
        at = car.knock()
        wait_for(lambda: time.time() > at + 2, 5, "the knock")
        assert status(d)["gsensor"]["impacts"] == 0, status(d)["gsensor"]

        # Ignition off: parked within a second, continuous recording stops, the parking threshold applies.
        chip.set(IGNITION, True)
        off = time.time()
        wait_for(lambda: gpio(d)["parked"], 5, "parking")
        assert time.time() - off < 1.5, time.time() - off
        g = gpio(d)
        assert g["ignitionState"] == "off" and abs(g["parkedSince"] - off) < 1.0 and abs(g["shutdownAt"] - off - 4) < 1.0, g
        cam = camera_status(d)
        assert cam["recordMode"] == "motion" and status(d)["gsensor"]["thresholdG"] == 1.2, (cam, status(d)["gsensor"])
        # Continuous recording at full rate ends; a time-lapse of a keyframe a second goes on in a file of its own.
        wait_for(lambda: (camera_status(d)["recording"].get("currentFile") or "").endswith("_timelapse.mp4"), 10, "the time-lapse")
        assert camera_status(d)["recording"]["timelapseSeconds"] == 1.0, camera_status(d)["recording"]
        at = car.knock()
        wait_for(lambda: status(d)["gsensor"]["impacts"] == 1, 10, "the knock while parked")
        wait_for(lambda: len([e for e in timeline(d)["events"] if not e["writing"]]) == 2, 30, "the parking clip finished")
        parking = [e for e in timeline(d)["events"] if e["type"] == "parking"]
        assert len(parking) == 1 and parking[0]["reason"].startswith("impact 1.") and parking[0]["protected"], timeline(d)["events"]
        assert parking[0]["start"] <= at <= parking[0]["end"] and parking[0]["path"].endswith("_front_parking.mp4"), (parking, at)
        # After parking_shutdown_after the system is asked to power off (here: the stand-in writes the time).
        wait_for(lambda: marker.exists() and marker.read_text().strip(), 10, "the power-off command")
        assert 3.5 <= float(marker.read_text()) - off <= 6.5, float(marker.read_text()) - off
        # Home Assistant hears of it through a real Mosquitto.
        wait_for(lambda: any(json.loads(p)["state"] == "ON" for p in listener.on("blackbox/pi1/parked")), 10, "parked over MQTT")
        discovery = json.loads(listener.on("homeassistant/binary_sensor/pi1_parked/config")[-1])
        assert discovery["state_topic"] == "blackbox/pi1/parked", discovery

        # Ignition on: continuous again, the driving threshold back; the timeline shades the parked span.
        chip.set(IGNITION, False)
        on = time.time()
        wait_for(lambda: not gpio(d)["parked"], 5, "driving again")
        assert time.time() - on < 1.5 and camera_status(d)["recordMode"] == "continuous", camera_status(d)
        assert status(d)["gsensor"]["thresholdG"] == 1.5, status(d)["gsensor"]
        wait_for(lambda: (camera_status(d)["recording"].get("currentFile") or "_timelapse").endswith("_front.mp4"), 20, "continuous recording again")
        assert camera_status(d)["recording"].get("timelapseSeconds") is None, camera_status(d)["recording"]
        # The time-lapse: keyframes only, about one a second of the time parked, played as parking footage.
        code, _, body = get(d, "/api/recordings?type=parking")
        lapses = [r for r in json.loads(body)["recordings"] if r["path"].endswith("_timelapse.mp4") and not r["writing"]]
        assert len(lapses) >= 1, body
        frames = keyframes(tmp_path / lapses[0]["path"])
        assert frames and all(frames) and abs(len(frames) - lapses[0]["duration"]) <= 2, (frames, lapses[0])
        assert decodes_cleanly(tmp_path / lapses[0]["path"]), lapses[0]
        spans = timeline(d)["parked"]
        assert len(spans) == 1 and abs(spans[0]["start"] - off) < 1.0 and abs(spans[0]["end"] - on) < 1.0, (spans, off, on)
        wait_for(lambda: any(json.loads(p)["state"] == "OFF" for p in listener.on("blackbox/pi1/parked")[1:]), 10, "driving over MQTT")
        code, _, body = get(d, "/api/recordings?type=manual")
        assert code == 200 and [r["type"] for r in json.loads(body)["recordings"]] == ["manual"], body

        # Unplugged: said, recording goes on; plugged in again: read again.
        chip.close()
        wait_for(lambda: gpio(d)["ignition"].get("error"), 15, "the unplug said")
        assert gpio(d)["ignitionState"] == "unknown" and camera_status(d)["recording"]["state"] == "recording", gpio(d)
        chip = CP2112(levels=0xFE).start()  # ignition on
        wait_for(lambda: gpio(d)["ignitionState"] == "on" and gpio(d)["ignition"].get("error") is None, 40, "the chip found again")
        assert not gpio(d)["parked"], gpio(d)
    finally:
        # Shown only when the test fails.
        print(json.dumps(gpio(d), indent=1), chip.requests[-5:], d.log()[-3000:])
        chip.close()
        accel.close()
        assert d.stop() == 0
        listener.close()
        broker.stop()
    log = d.log()
    assert "ignition off: parked" in log and "ignition on: driving" in log and "button: protected manual clip saved" in log, log[-3000:]
