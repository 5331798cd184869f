"""Sound from a real ALSA device: Linux's loopback card (snd-aloop, in Debian's kernel) inside the VM. The test plays
clicks into one side at known times while the daemon records the other through ALSA; the recorded clicks must sit at
those times on the wall clock (picture and sound on one clock), and the files must carry the sound as AAC beside the
picture. Runs inside the VM (tests/vm/run.sh)."""
import array
import math
import pathlib
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "e2e"))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))
from conftest import BINARY, Daemon  # noqa: E402
from helpers import camera_status as status, wait_for  # noqa: E402
from test_sound import RATE, clicks, streams  # noqa: E402
import verify_signatures as independent  # noqa: E402

import pytest  # noqa: E402

# The loopback card: what is played on device 0 is captured on device 1.
PLAY, CAPTURE = "plughw:CARD=Loopback,DEV=0", "plughw:CARD=Loopback,DEV=1"


@pytest.fixture(scope="module", autouse=True)
def loopback():
    r = subprocess.run(["modprobe", "snd-aloop", "pcm_substreams=1"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        pytest.fail(f"snd-aloop did not load: run these tests through tests/vm/run.sh ({r.stderr.strip()})", pytrace=False)
    wait_for(lambda: "Loopback" in pathlib.Path("/proc/asound/cards").read_text(), 10, "the loopback card")


def play_clicks(seconds, at):
    """Plays `seconds` of silence with a 10 ms 2 kHz burst at each offset in `at` (seconds from the start) into the loopback,
    each 10 ms block written when it is due (so nothing waits in a pipe); returns the wall-clock times the bursts were handed
    to ALSA (aplay keeps at most 20 ms)."""
    player = subprocess.Popen(["aplay", "-q", "-D", PLAY, "-t", "raw", "-f", "S16_LE", "-r", str(RATE), "-c", "1",
                               "--buffer-time=20000", "-"], stdin=subprocess.PIPE)
    block = RATE // 100
    silence = bytes(2 * block)
    burst = array.array("h", (int(0.7 * 32767 * math.sin(2 * math.pi * 2000 * i / RATE)) for i in range(block))).tobytes()
    due = [round(t * 100) for t in at]
    sent = []
    start = time.monotonic()
    for n in range(int(seconds * 100)):
        wait = start + n / 100 - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        if n in due:
            sent.append(time.time())
        player.stdin.write(burst if n in due else silence)
        player.stdin.flush()
    player.stdin.close()
    player.wait(10)
    return sent


def test_devices_and_doctor_see_the_loopback_card():
    r = subprocess.run([BINARY, "devices"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and any(line.startswith("sound: alsa:") and "Loopback" in line for line in r.stdout.splitlines()), r.stdout
    r = subprocess.run([BINARY, "doctor"], capture_output=True, text=True, timeout=60)
    assert any(line.startswith("OK") and "sound:" in line and "Loopback" in line for line in r.stdout.splitlines()), r.stdout


def test_clicks_played_into_alsa_are_recorded_at_their_times(tmp_path):
    d = Daemon("--camera", "front=testpattern:320x240@10", "--camera-audio", f"front=alsa:{CAPTURE}", "--segment-seconds", "60",
               recordings=tmp_path)
    try:
        wait_for(lambda: status(d)["audio"]["state"] == "running" and status(d)["recording"]["soundUnitsWritten"] > 50, 60,
                 "sound from the loopback")
        sent = play_clicks(8, [1, 2.5, 4, 5.5, 7])
        time.sleep(1)
        audio = status(d)["audio"]
        assert audio["state"] == "running" and audio["input"] == f"alsa:{CAPTURE}", audio
    finally:
        assert d.stop() == 0
    path = next(tmp_path.rglob("*.mp4"))
    s = streams(path)
    assert s["video"]["codec_name"] == "h264" and s["audio"]["codec_name"] == "aac" and s["audio"]["sample_rate"] == str(RATE), s
    # The file's clock: its first fragment's signed wall-clock start is the first picture's capture time (track time 0).
    first = independent.read_file(str(path))[1][0]
    start = independent.parse_link(first["link"])["wall_ns"] / 1e9
    heard = [start + t for t in clicks(path)]
    assert len(heard) == len(sent), (sent, heard)
    offsets = [h - s for h, s in zip(heard, sent)]
    # Every click where it was played relative to the others (no unit lost, no gap, none moved): within 40 ms.
    assert max(offsets) - min(offsets) <= 0.040, offsets
    # On the wall clock they come out 0.08 to 0.17 s late in this emulated VM. That is the loopback's and aplay's own
    # share: arecord reading the loopback directly in 5 ms periods, with no daemon, gets the same bursts 66 to 108 ms
    # late (three runs). A device with its own clock has none of it: the USB microphone's clicks are recorded where its
    # clock put them (test_usb_microphone.py, within 50 ms). So this bound only catches a gross error: half a second
    # (CI saw 0.26 s once, the VM slow and aplay underrunning, the clicks still within 6 ms of each other).
    assert all(-0.050 <= o <= 0.500 for o in offsets), offsets
