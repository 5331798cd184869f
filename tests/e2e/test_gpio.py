"""The ignition and button settings and a missing GPIO chip, on the build machine (which has no gpiochip). The real
chip (a uhid CP2112 through Linux's own hid-cp2112 driver: a bouncing press, parking, the parking threshold, the
power-off, unplugging) is tests/vm/test_gpio.py."""
import json

import pytest

from conftest import Daemon
from helpers import camera_status, get, refused, refused_config, status, wait_for


@pytest.mark.parametrize("text, words", [
    ('[gpio]\nignition = "GPIO17"\n',
     ':2: [gpio] ignition = "GPIO17": not allowed; allowed: CHIP:LINE, the chip by label (e.g. pinctrl-rp1), gpiochipN or N'),
    ('[gpio]\nbutton = "pinctrl-rp1:GPIO27"\ndebounce_ms = 0\n', ':3: [gpio] debounce_ms = 0: out of range; allowed: 1 to 2000 ms'),
    ('[gpio]\nbutton = "0:1"\nbias = "up"\n', ':3: [gpio] bias = "up": not allowed; allowed: as-is, pull-up, pull-down, disabled'),
    ('[gpio]\nignition = "0:1"\nparking_shutdown_after = "12"\n',
     ':3: [gpio] parking_shutdown_after = "12": not allowed; allowed: 1s to 30d, e.g. "12h", "90m"'),
    ('[gpio]\nignition = "0:1"\nparking_timelapse = 5\n', ':3: [gpio] parking_timelapse = 5.0: out of range; allowed: 0.01 to 1 frames a second'),
    ('[gpio]\nactive_low = true\n', '[gpio] ignition: a line is needed: ignition = or button = "CHIP:LINE"'),
    ('[gpio]\nignition = "0:1"\nignition_line = 3\n', ':3: [gpio] ignition_line = 3: unknown setting; allowed: active_low, bias, button'),
    ('[gsensor]\ndevice = "mpu6050"\nparking_threshold_g = 0.1\n', ':3: [gsensor] parking_threshold_g = 0.1: out of range; allowed: 0.3 to 16 g'),
])
def test_bad_settings_in_the_file_are_refused_with_the_line_and_what_is_allowed(tmp_path, text, words):
    assert words in refused_config(tmp_path, text)


def test_a_missing_chip_is_said_and_recording_goes_on_unparked(tmp_path):
    config = tmp_path / "blackbox.toml"
    config.write_text('[gpio]\nignition = "pinctrl-rp1:GPIO17"\nbutton = "pinctrl-rp1:GPIO27"\nactive_low = true\n')
    d = Daemon("--config", str(config), "--camera", "front=testpattern:320x240@10", recordings=tmp_path)
    try:
        wait_for(lambda: status(d)["gpio"]["ignition"].get("error"), 10, "the missing chip said")
        g = status(d)["gpio"]
        assert g["ignition"]["error"].startswith("no GPIO chip 'pinctrl-rp1'; found: "), g
        assert g["ignitionState"] == "unknown" and g["parked"] is False and g["presses"] == 0, g
        # Not knowing the ignition is not parking: the camera records on as configured.
        wait_for(lambda: camera_status(d)["recording"]["framesWritten"] > 20, 20, "recording")
        assert camera_status(d)["recordMode"] == "continuous", camera_status(d)
        _, _, metrics = get(d, "/metrics")
        assert b"blackbox_parked_bool 0" in metrics and b"blackbox_button_presses_total" in metrics, metrics[-2000:]
        code, _, body = get(d, "/api/recordings?type=lorry")
        assert code == 400 and "type 'lorry' is not known; allowed: normal, event, parking, manual" in json.loads(body)["detail"], body
    finally:
        assert d.stop() == 0
    assert "a GPIO line cannot be read" in d.log()
