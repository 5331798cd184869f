"""H.264 recording (--codec h264): segments and event clips read by ffprobe/ffmpeg without a word,
keyframes where files and fragments start (SIGKILL recovery: test_recording.py, which runs H.264 by default)."""
import json
import subprocess
import time
import urllib.error
import urllib.request

from conftest import Daemon
from test_recording import cpu_load, decodes_cleanly, finished, post, status, verify, wait_for  # noqa: F401 (fixture)


def probe(path):
    """codec, frame rate, per-frame (pts, key) and the start date, as ffprobe reads them; fails on any ffprobe error."""
    r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                        "stream=codec_name,r_frame_rate:frame=pts_time,key_frame:format=duration:format_tags=date", "-of", "json", str(path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stderr == "", f"{path}: {r.stderr}"
    data = json.loads(r.stdout)
    frames = [(float(f["pts_time"]), f["key_frame"] == 1) for f in data["frames"]]
    return data["streams"][0], frames, float(data["format"]["duration"]), data["format"]["tags"]["date"]


def test_h264_segments_and_event_clips_decode_cleanly_with_keyframes_where_they_start(start_daemon, cpu_load):
    d = start_daemon("--camera", "front=testpattern:640x360@30", "--codec", "h264", "--segment-seconds", "3",
                     "--event-pre", "2", "--event-post", "2")
    wait_for(lambda: len(finished(d.recordings)) >= 2, 30, "two segments")
    wait_for(lambda: status(d)["cameras"][0]["recording"]["preRollSeconds"] >= 2, 10, "a full pre-roll")
    code, answer = post(d, "/api/events", {"reason": "h264 clip"})
    assert code == 202
    clip = d.recordings / answer["events"][0]["file"]
    wait_for(clip.exists, 30, "the event clip")
    st = status(d)["cameras"][0]
    assert st["h264"]["framesEncoded"] > 100 and st["h264"]["errors"] == 0
    assert d.stop() == 0
    segments = finished(d.recordings)
    assert len(segments) >= 3
    for path in segments + [clip]:
        stream, frames, duration, _ = probe(path)
        assert stream["codec_name"] == "h264" and stream["r_frame_rate"] == "30/1", (path.name, stream)
        assert decodes_cleanly(path), path.name
        times = [t for t, _ in frames]
        assert all(b > a for a, b in zip(times, times[1:])), f"{path.name}: timestamps do not increase"
        assert frames[0][1], f"{path.name} does not start with a keyframe"
        # An IDR picture at least every second (every fragment starts with one).
        keys = [t for t, key in frames if key]
        assert all(b - a <= 1.0 + 1 / 30 + 0.001 for a, b in zip(keys, keys[1:])), (path.name, keys)
        ours, seconds = verify(path)
        assert abs(ours - len(frames)) <= 1 and abs(seconds - duration) <= 1 / 30 + 0.001, path.name
    # Full segments are 3 s (they end at the first keyframe after 3 s).
    for path in segments[:-1]:
        _, frames, duration, _ = probe(path)
        assert 3.0 - 0.001 <= duration <= 3.0 + 1.0 + 0.001, (path.name, duration)
    # The clip holds its pre-roll: it starts about 2 s before the event (at a keyframe, so up to 1 s more).
    _, frames, duration, _ = probe(clip)
    assert 2 + 2 - 0.5 <= duration <= 2 + 2 + 1.5, duration


def test_a_bad_codec_is_refused_with_what_is_allowed():
    from test_operations import run
    r = run("run", "--codec", "h265", "--port", "0")
    assert r.returncode == 2 and "--codec 'h265' is not known; allowed: mjpeg, h264" in r.stderr


def test_codec_bench_on_real_footage_writes_both_recordings(tmp_path):
    from conftest import BINARY, ROOT
    clip = ROOT / "tests" / "fixtures" / "street_40frames.avi"
    y4m = tmp_path / "street.y4m"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-vf", "scale=320:240", "-frames:v", "20", "-pix_fmt", "yuv420p",
                    "-f", "yuv4mpegpipe", str(y4m)], check=True, timeout=120)
    r = subprocess.run([BINARY, "bench", "--y4m", str(y4m), "--output", str(tmp_path / "out"), "--paced-seconds", "2"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "20 frames 320x240@10" in r.stdout and "h264 / mjpeg: CPU" in r.stdout
    assert "as a camera gives them (20 frames at 10 fps" in r.stdout and "as a camera gives frames" in r.stdout
    assert "mjpeg recording pipeline" in r.stdout and "h264  recording pipeline" in r.stdout
    for codec in ("mjpeg", "h264"):
        path = tmp_path / "out" / f"bench-{codec}.mp4"
        assert decodes_cleanly(path)
        stream, frames, _, _ = probe(path)
        assert len(frames) == 20 and stream["codec_name"] == codec
    # Only the encoders as a camera gives frames (what bench/daemon.py runs beside the daemon): that line alone, no file.
    r = subprocess.run([BINARY, "bench", "--y4m", str(y4m), "--output", str(tmp_path / "paced"), "--paced-only", "--paced-seconds", "1"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("as a camera gives them (10 frames at 10 fps") and len(r.stdout.splitlines()) == 1, r.stdout
    assert not (tmp_path / "paced").exists()
    r = subprocess.run([BINARY, "bench", "--paced-only"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--paced-only needs --y4m and --paced-seconds above 0" in r.stderr, r.stderr


def test_with_h264_recording_jpeg_is_made_only_while_someone_watches(start_daemon):
    from mjpeg import MJPEGStream, decode_jpeg
    d = start_daemon("--camera", "front=testpattern:320x240@30", "--codec", "h264")
    wait_for(lambda: status(d)["cameras"][0]["h264"]["framesEncoded"] > 30, 20, "H.264 frames")
    before = status(d)["cameras"][0]
    time.sleep(2)
    after = status(d)["cameras"][0]
    # Nobody watches: no JPEG is encoded, H.264 goes on, and the camera is healthy.
    assert after["jpegOnDemand"] and after["framesEncoded"] == before["framesEncoded"]
    assert after["jpegSkipped"] > before["jpegSkipped"] and after["h264"]["framesEncoded"] > before["h264"]["framesEncoded"]
    assert after["measuredFps"] > 20 and after["lastFrameAgeMs"] < 1000
    with urllib.request.urlopen(d.base + "/healthz", timeout=5) as r:
        assert r.status == 200
    # A snapshot is a fresh picture, not the last JPEG made before nobody watched.
    asked = time.time()
    with urllib.request.urlopen(d.base + "/snapshot", timeout=5) as r:
        stamp = float(r.getheader("X-Timestamp"))
        assert decode_jpeg(r.read()).size == (320, 240)
    assert stamp >= asked - 0.2
    # A viewer gets pictures, and the JPEG encoder works while it watches.
    stream = MJPEGStream(d.base, "/stream")
    for _ in range(10):
        _, jpeg = stream.next_part()
    stream.close()
    assert decode_jpeg(jpeg).size == (320, 240)
    assert status(d)["cameras"][0]["framesEncoded"] >= after["framesEncoded"] + 10


def test_a_camera_that_sends_jpeg_is_recorded_as_h264(start_daemon, tmp_path):
    import io
    import os
    from PIL import Image
    from conftest import ROOT
    paths = []
    for i, colour in enumerate([(200, 40, 40), (40, 200, 40), (40, 40, 200)]):
        out = io.BytesIO()
        Image.new("RGB", (320, 240), colour).save(out, "JPEG", quality=80)  # 4:2:0 from Pillow
        path = tmp_path / f"{i}.jpg"
        path.write_bytes(out.getvalue())
        paths.append(str(path))
    env = {"PATH": f"{ROOT / 'tests' / 'fake-rpicam'}:{os.environ['PATH']}", "FAKE_RPICAM": "normal", "FAKE_RPICAM_JPEGS": ":".join(paths)}
    d = start_daemon("--camera", "pi=rpicam:0:320x240@30,mjpeg", "--codec", "h264", "--segment-seconds", "2", env=env)
    wait_for(lambda: len(finished(d.recordings)) >= 2, 30, "two segments")
    h264 = status(d)["cameras"][0]["h264"]
    assert h264["framesEncoded"] > 30 and h264["droppedUndecodable"] == 0
    assert d.stop() == 0
    for path in finished(d.recordings):
        stream, frames, _, _ = probe(path)
        assert stream["codec_name"] == "h264" and frames[0][1] and decodes_cleanly(path), path.name
    # The camera's colours come through the decode and the encode (a middle frame, as RGB).
    r = subprocess.run(["ffmpeg", "-v", "error", "-i", str(finished(d.recordings)[0]), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24",
                        "-"], capture_output=True, timeout=60)
    pixel = r.stdout[(120 * 320 + 10) * 3:(120 * 320 + 10) * 3 + 3]  # left of the overlay text
    assert max(pixel) > 150 and min(pixel) < 90, list(pixel)


def test_changing_the_codec_at_run_time_starts_a_new_segment(start_daemon):
    # Starts in MJPEG (not the default) to switch to H.264 and back.
    d = start_daemon("--camera", "front=testpattern:320x240@30", "--segment-seconds", "60", "--codec", "mjpeg")
    wait_for(lambda: status(d)["cameras"][0]["recording"]["framesWritten"] > 30, 20, "MJPEG recording")

    def change(body):
        req = urllib.request.Request(d.base + "/api/cameras/front/settings", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    code, answer = change({"codec": "h265"})
    assert code == 400 and "allowed: mjpeg, h264" in answer["detail"]
    code, answer = change({"codec": "h264"})
    assert code == 200 and answer["settings"]["codec"] == "h264"
    wait_for(lambda: status(d)["cameras"][0]["recording"]["segments"] >= 1, 20, "the MJPEG segment to close")
    wait_for(lambda: status(d)["cameras"][0]["h264"] and status(d)["cameras"][0]["h264"]["framesEncoded"] > 60, 20, "H.264 frames")
    cam = status(d)["cameras"][0]
    assert cam["codec"] == "h264" and cam["jpegOnDemand"]
    code, answer = change({"codec": "mjpeg"})
    assert code == 200 and answer["settings"]["codec"] == "mjpeg"
    wait_for(lambda: status(d)["cameras"][0]["recording"]["segments"] >= 2, 20, "the H.264 segment to close")
    written = status(d)["cameras"][0]["recording"]["framesWritten"]
    wait_for(lambda: status(d)["cameras"][0]["recording"]["framesWritten"] >= written + 15, 20, "MJPEG frames in the third segment")
    assert d.stop() == 0
    codecs = [probe(p)[0]["codec_name"] for p in finished(d.recordings)]
    assert codecs == ["mjpeg", "h264", "mjpeg"], codecs
    for p in finished(d.recordings):
        assert decodes_cleanly(p), p.name


def test_an_event_clip_from_real_footage_holds_its_pre_roll_and_starts_with_a_keyframe(start_daemon, tmp_path):
    from conftest import ROOT
    y4m = tmp_path / "street.y4m"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(ROOT / "tests" / "fixtures" / "street_40frames.avi"), "-pix_fmt", "yuv420p",
                    "-f", "yuv4mpegpipe", str(y4m)], check=True, timeout=120)
    d = start_daemon("--camera", f"street=file:{y4m}", "--codec", "h264", "--event-pre", "2", "--event-post", "1", "--no-record")
    cam = status(d)["cameras"][0]
    assert cam["source"] == f"file {y4m} 768x576@10" and (cam["width"], cam["height"], cam["configuredFps"]) == (768, 576, 10)
    wait_for(lambda: status(d)["cameras"][0]["recording"]["preRollSeconds"] >= 2, 10, "a full pre-roll")
    code, answer = post(d, "/api/events", {"reason": "people crossing"})
    assert code == 202
    clip = d.recordings / answer["events"][0]["file"]
    wait_for(clip.exists, 20, "the clip")
    assert d.stop() == 0
    stream, frames, duration, _ = probe(clip)
    assert stream["codec_name"] == "h264" and stream["r_frame_rate"] == "10/1"
    assert frames[0][1], "the clip does not start with a keyframe"
    assert 2 + 1 - 0.2 <= duration <= 2 + 1 + 1.2, duration
    assert decodes_cleanly(clip)


def test_a_file_camera_that_cannot_be_read_stops_the_start_with_the_reason(tmp_path):
    from test_operations import run
    bad = tmp_path / "clip.avi"
    bad.write_bytes(b"RIFF....AVI ")
    r = run("run", "--camera", f"x=file:{bad}", "--port", "0", "--recordings", str(tmp_path / "rec"))
    assert r.returncode == 2 and "is not a YUV4MPEG2 file" in r.stderr and "yuv4mpegpipe" in r.stderr


def test_h264_is_the_default_recording_codec(tmp_path):
    d = Daemon("--camera", "front=testpattern:320x240@15", "--segment-seconds", "2", recordings=tmp_path)
    try:
        # What the process was given, as the kernel has it: no codec named.
        argv = open(f"/proc/{d.proc.pid}/cmdline", "rb").read().split(b"\0")
        assert b"run" in argv and not any(a.startswith(b"--codec") for a in argv), argv
        cam = status(d)["cameras"][0]
        assert cam["codec"] == "h264" and cam["jpegOnDemand"]
        wait_for(lambda: len(finished(d.recordings)) >= 1, 20, "a segment")
    finally:
        assert d.stop() == 0
    assert probe(finished(d.recordings)[0])[0]["codec_name"] == "h264"
