"""The product as shipped: `blackbox run` with no settings at all records the default camera (the test pattern here,
1280x720 at 30 fps) in H.264, 60 s segments of 1 s fragments, while a viewer joins and leaves; every file is whole,
signed and decodes, and the daemon used a small share of a core doing it."""
import json
import subprocess
import time

from conftest import Daemon
from helpers import camera_status, cpu_seconds, wait_for
from mjpeg import MJPEGStream, decode_jpeg
from test_live_h264 import Reader, boxes
from test_recording import decodes_cleanly, finished, verify


def packets(path):
    """(pts seconds, keyframe) of every video packet, as ffprobe reads the file (no decoding)."""
    r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                        "stream=codec_name,width,height,r_frame_rate:packet=pts_time,flags", "-of", "json", str(path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    data = json.loads(r.stdout)
    return data["streams"][0], [(float(p["pts_time"]), "K" in p["flags"]) for p in data["packets"]]


def test_the_defaults_record_720p30_h264_in_60_s_segments_of_1_s_fragments_with_a_viewer_coming_and_going(tmp_path):
    d = Daemon(recordings=tmp_path)  # nothing but where to write and which port (the fixture's free ports)
    try:
        pid = d.proc.pid
        time.sleep(2)
        # Nobody watching: the daemon's own CPU time over 20 s, as the kernel counts it.
        cpu0, wall0 = cpu_seconds(pid), time.monotonic()
        time.sleep(20)
        share = (cpu_seconds(pid) - cpu0) / (time.monotonic() - wall0)
        print(f"CPU with nobody watching: {share:.1%} of a core")
        # The PRD's 30 % of the Pi for all cameras, here for one on this machine's core (a debug build; `bench/` has
        # the release figures).
        assert share < 0.30, f"{share:.1%} of a core recording the default camera"
        # A viewer comes: the live picture at the camera's size in both forms, then goes.
        mse = Reader(d.base + "/stream.mp4", 6)
        mse.start()
        stream = MJPEGStream(d.base, "/stream")
        pictures = [decode_jpeg(stream.next_part()[1]) for _ in range(30)]
        stream.close()
        mse.join(15)
        assert {p.size for p in pictures} == {(1280, 720)}
        assert [k for k, _ in boxes(bytes(mse.data))][:3] == ["ftyp", "moov", "moof"]
        wait_for(lambda: camera_status(d)["liveStreams"] == [], 10, "the viewer gone")
        # The first segment ends 60 s after it began, then the daemon is stopped as systemd stops it.
        wait_for(lambda: len(finished(tmp_path)) >= 1, 60, "the first 60 s segment")
        time.sleep(2)  # a couple of fragments into the next
        assert camera_status(d)["recording"]["droppedFrames"] == 0
    finally:
        assert d.stop() == 0
    files = finished(tmp_path)
    assert len(files) == 2 and not list(tmp_path.rglob("*.part")), files
    for path in files:
        stream, frames = packets(path)
        assert (stream["codec_name"], stream["width"], stream["height"], stream["r_frame_rate"]) == ("h264", 1280, 720, "30/1")
        # A keyframe starts every 1 s fragment: the first frame, then one a second (within a frame).
        keys = [t for t, key in frames if key]
        assert frames[0][1] and all(abs(b - a - 1.0) <= 1 / 30 + 0.001 for a, b in zip(keys, keys[1:])), keys[:10]
        assert len(keys) >= int(frames[-1][0] - frames[0][0]), (len(keys), frames[-1][0])
        assert all(b > a for (a, _), (b, _) in zip(frames, frames[1:])), path.name
        assert decodes_cleanly(path), path.name
        ours, _ = verify(path)  # signed, every fragment's hash in the chain
        assert ours == len(frames)
    # The first file is a whole segment: 60 s of 30 fps, within a frame.
    first = packets(files[0])[1]
    assert abs(len(first) - 1800) <= 1, len(first)
