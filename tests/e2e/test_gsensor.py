"""The accelerometer's settings and a missing device, on the build machine (which has no IIO device). The real device
(a uhid accelerometer through Linux's own HID sensor and IIO drivers: impacts, the recorded track, unplugging) is
tests/vm/test_gsensor.py."""
import pytest

from conftest import Daemon
from helpers import camera_status, get, refused, refused_config, status, wait_for


@pytest.mark.parametrize("args, words", [
    (["--gsensor", "../../etc/passwd"], "--gsensor '../../etc/passwd' is not known; allowed: an IIO device's name"),
    (["--gsensor", ""], "--gsensor '' is not known; allowed: an IIO device's name"),
])
def test_a_bad_device_is_refused_naming_what_is_allowed(args, words):
    assert words in refused(*args)


@pytest.mark.parametrize("text, words", [
    ('[gsensor]\ndevice = "mpu6050"\nthreshold_g = 40\n', ':3: [gsensor] threshold_g = 40.0: out of range; allowed: 0.3 to 16 g'),
    ('[gsensor]\nthreshold_g = 2\n', '[gsensor] device: the accelerometer is needed, e.g. device = "mpu6050"'),
    ('[gsensor]\ndevice = "mpu6050"\nthreshold = 2\n', ':3: [gsensor] threshold = 2: unknown setting; allowed: device, parking_threshold_g, threshold_g'),
])
def test_bad_settings_in_the_file_are_refused_with_the_line_and_what_is_allowed(tmp_path, text, words):
    assert words in refused_config(tmp_path, text)


def test_a_missing_accelerometer_is_said_and_recording_goes_on(tmp_path):
    d = Daemon("--camera", "front=testpattern:320x240@10", "--gsensor", "mpu6050", recordings=tmp_path)
    try:
        wait_for(lambda: status(d)["gsensor"]["state"] == "missing", 10, "the missing device said")
        s = status(d)["gsensor"]
        assert s["error"].startswith("no IIO device named 'mpu6050'; found: ") and s["samples"] == 0 and s["thresholdG"] == 1.5, s
        wait_for(lambda: camera_status(d)["recording"]["framesWritten"] > 20, 20, "recording")
        _, _, metrics = get(d, "/metrics")
        assert b"blackbox_gsensor_reading_bool 0" in metrics, metrics[-2000:]
    finally:
        assert d.stop() == 0
