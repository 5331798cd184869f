"""Motion detection on real footage: the street clip's walkers start motion event clips, a still scene with
sensor noise and a sudden change of light start none, and `motion` mode records only event clips."""
import json
import pathlib
import subprocess
import time
import urllib.request

import pytest

from conftest import BINARY, Daemon
from test_recording import finished, wait_for

CLIP = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "street_768x576_10fps.avi"


def y4m(tmp_path, name, filters, seconds):
    """`seconds` of the street clip through ffmpeg `filters`, as a Y4M file the daemon's file camera plays."""
    out = tmp_path / f"{name}.y4m"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(CLIP), "-t", str(seconds), "-vf", filters, "-r", "10",
                    "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", str(out)], check=True, timeout=300)
    return out


def motion_status(d):
    with urllib.request.urlopen(d.base + "/api/status", timeout=10) as r:
        return json.loads(r.read())["cameras"][0]


def test_continuous_mode_reports_motion_without_writing_clips(tmp_path):
    clip = y4m(tmp_path, "street", "null", 30)
    d = Daemon("--camera", f"front=file:{clip}", "--codec", "h264", recordings=tmp_path / "rec")
    try:
        wait_for(lambda: motion_status(d)["motion"]["events"] >= 1, 20, "a motion event")
        status = motion_status(d)
        assert status["recordMode"] == "continuous" and status["recording"]["activeEvents"] == 0
        with urllib.request.urlopen(d.base + "/metrics", timeout=10) as r:
            metrics = r.read().decode()
        assert 'blackbox_motion_bool{camera="front"} 1' in metrics and "blackbox_motion_events" in metrics
    finally:
        assert d.stop() == 0
    assert not list((tmp_path / "rec" / "events").rglob("*.mp4*"))


def test_walkers_in_the_street_clip_start_motion_clips(tmp_path):
    clip = y4m(tmp_path, "street", "null", 30)
    d = Daemon("--camera", f"front=file:{clip}", "--codec", "h264", "--record-mode", "motion", "--event-pre", "2", "--event-post", "3",
               recordings=tmp_path / "rec")
    try:
        wait_for(lambda: motion_status(d)["motion"]["events"] >= 1, 20, "a motion event")
        status = motion_status(d)
        assert status["motion"]["dropped"] == 0 and status["recordMode"] == "motion"
        day = time.strftime("%Y-%m-%d")

        def events():
            with urllib.request.urlopen(d.base + f"/api/timeline?camera=front&day={day}", timeout=10) as r:
                return json.loads(r.read())["events"]

        # The clip shows on the timeline, marked as motion, once its first fragment is written.
        wait_for(events, 15, "the motion clip on the timeline")
        assert events()[0]["reason"] == "motion", events()
    finally:
        assert d.stop() == 0


@pytest.mark.parametrize("name,filters", [
    # The first frame of the clip, held, with fresh sensor-like noise in every frame.
    ("noise", "trim=end_frame=1,loop=loop=-1:size=1,setpts=N/10/TB,noise=alls=10:allf=t"),
    # The same, and after 6 s the light changes at once (headlights, a cloud, the lamp switched on).
    ("light", "trim=end_frame=1,loop=loop=-1:size=1,setpts=N/10/TB,noise=alls=10:allf=t,eq=brightness=0.25:enable='gte(t,6)'"),
])
def test_a_still_scene_with_noise_or_a_change_of_light_is_not_motion(tmp_path, name, filters):
    clip = y4m(tmp_path, name, filters, 12)
    d = Daemon("--camera", f"front=file:{clip}", "--codec", "h264", recordings=tmp_path / "rec")
    try:
        # Three plays of the file: the jump of light (and back, as the file loops) comes up to six times.
        wait_for(lambda: motion_status(d)["motion"]["analysed"] >= 180, 60, "36 s of analysed frames")
        motion = motion_status(d)["motion"]
        assert motion["events"] == 0 and motion["state"] == "idle", motion
        if name == "light":
            assert motion["lightswitches"] >= 1, motion
        assert not list((tmp_path / "rec" / "events").rglob("*.mp4*"))
    finally:
        assert d.stop() == 0


def test_motion_mode_records_only_event_clips_each_with_its_pre_roll(tmp_path):
    clip = y4m(tmp_path, "street", "null", 30)
    d = Daemon("--camera", f"front=file:{clip}", "--codec", "h264", "--record-mode", "motion", "--event-pre", "2", "--event-post", "2",
               "--event-max", "6", "--segment-seconds", "5", recordings=tmp_path / "rec")
    try:
        wait_for(lambda: len(finished(tmp_path / "rec", "events")) >= 2, 40, "two finished motion clips")
        status = motion_status(d)
        assert status["recordMode"] == "motion" and status["recording"]["enabled"] is False
    finally:
        assert d.stop() == 0
    assert finished(tmp_path / "rec") == [] and not list((tmp_path / "rec" / "front").rglob("*.mp4*")), "segments were written"
    for path in finished(tmp_path / "rec", "events"):
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration:format_tags=comment", "-of", "json", str(path)],
                               capture_output=True, text=True, timeout=60)
        info = json.loads(probe.stdout)["format"]
        # Pre-roll (2 s, from the keyframe before it) plus at least the post-roll.
        assert float(info["duration"]) >= 2 + 2 - 0.5, (path.name, info)
        assert info.get("tags", {}).get("comment") == "motion", info


def test_bad_motion_settings_and_modes_name_what_is_allowed(tmp_path):
    r = subprocess.run([BINARY, "run", "--port", "0", "--record-mode", "parking", "--recordings", str(tmp_path)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--record-mode 'parking' is not known; allowed: continuous, motion, off" in r.stderr
    config = tmp_path / "bad.toml"
    config.write_text("[motion]\nnoise = 0\n")
    r = subprocess.run([BINARY, "run", "--port", "0", "--config", str(config), "--recordings", str(tmp_path)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "motion noise 0 is out of range; allowed: 1 to 255" in r.stderr, r.stderr
