"""A camera mounted upside down or mirrored (`rotation = 180`, `hflip`, `vflip`): the picture is turned before anything
sees it, so live snapshots (JPEG) and recordings (H.264, the product's default) show it upright. Checked on the street
footage's first picture held still, against the same picture turned by Pillow."""
import io
import subprocess

from PIL import Image, ImageChops, ImageOps, ImageStat

from conftest import Daemon
from helpers import camera_status, get, wait_for
from test_motion import y4m
from test_recording import finished


def luma(data):
    return Image.open(io.BytesIO(data)).convert("L")


def difference(a, b):
    """Mean absolute difference of two grey pictures, 0-255."""
    return ImageStat.Stat(ImageChops.difference(a, b)).mean[0]


def still(tmp_path):
    """The street's first picture for 4 s (no motion, no noise) and that picture as the camera gives it."""
    clip = y4m(tmp_path, "still", "trim=end_frame=1,loop=loop=-1:size=1,setpts=N/10/TB", 4)
    png = tmp_path / "still.png"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip), "-frames:v", "1", str(png)], check=True, timeout=60)
    return clip, Image.open(png).convert("L")


def recorded_picture(path, tmp_path):
    png = tmp_path / (path.stem + ".png")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(path), "-vf", "select=eq(n\\,5)", "-frames:v", "1", str(png)],
                   check=True, timeout=60)
    return Image.open(png).convert("L")


def check_turned(d, tmp_path, upright, turned):
    """Snapshot and recording match `turned` (the camera's picture as mounted, put right) and not `upright`."""
    wait_for(lambda: camera_status(d)["framesCaptured"] >= 10, 20, "frames")
    code, _, body = get(d, "/snapshot")
    assert code == 200
    shot = luma(body)
    assert difference(shot, turned) < 10 < 30 < difference(shot, upright), (difference(shot, turned), difference(shot, upright))
    wait_for(lambda: len(finished(d.recordings)) >= 1, 30, "a finished segment")
    frame = recorded_picture(finished(d.recordings)[0], tmp_path)
    assert difference(frame, turned) < 10 < 30 < difference(frame, upright), (difference(frame, turned), difference(frame, upright))


def test_rotation_180_turns_snapshots_and_recordings(tmp_path):
    clip, picture = still(tmp_path)
    d = Daemon("--camera", f"front=file:{clip}", "--no-overlay", "--rotation", "180", "--segment-seconds", "2",
               recordings=tmp_path / "rec")
    try:
        assert camera_status(d)["orientation"] == "180"
        check_turned(d, tmp_path, picture, picture.rotate(180))
    finally:
        assert d.stop() == 0


def test_a_camera_table_mirrors_one_camera_left_to_right(tmp_path):
    clip, picture = still(tmp_path)
    config = tmp_path / "blackbox.toml"
    config.write_text(f'[recording]\nsegment_seconds = 2\n\n[[camera]]\nid = "front"\nsource = "file:{clip}"\noverlay = false\nhflip = true\n')
    d = Daemon("--config", str(config), recordings=tmp_path / "rec")
    try:
        assert camera_status(d)["orientation"] == "0 hflip"
        check_turned(d, tmp_path, picture, ImageOps.mirror(picture))
    finally:
        assert d.stop() == 0
