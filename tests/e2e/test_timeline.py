"""Finding any moment: the timeline API over an archive of 1,500 files on two days and two cameras,
continuous playback across segments (the one being written too), export of a span, paging while
recording goes on, and the web UI's timeline in headless Chromium reaching yesterday at 14:05."""
import datetime
import json
import os
import signal
import struct
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from conftest import Daemon
from test_recording import finished
from test_ui import chromium, log_in, shot, wait
from helpers import get, wait_for
from mjpeg import MJPEGStream

SEGMENT = 10          # seconds per generated segment
PER_CAMERA_DAY = 405  # slots from 13:30; less the hole's 30, 2 cameras x 2 days x 375 + 8 event clips = 1,508 files
MP4_EPOCH = 2_082_844_800


def local(day, hh, mm, ss=0):
    """Unix seconds of local time `hh:mm:ss` on `day` (a date)."""
    return datetime.datetime(day.year, day.month, day.day, hh, mm, ss).timestamp()


def day_end(day, slot):
    """Where the generated archive of `day` ends."""
    return local(day, 13, 30) + PER_CAMERA_DAY * slot


def duration(data):
    """The duration a finished segment states (mehd), seconds."""
    at = data.find(b"mehd") + 4
    return struct.unpack(">Q", data[at + 4:at + 12])[0] / 1000


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def restamp(template, start):
    """A copy of a real recorded segment that says it starts at `start` (its movie header's creation time)."""
    b = bytearray(template)
    at = bytes(b).find(b"mvhd") + 4
    assert b[at] == 1
    for field in (at + 4, at + 12):
        b[field:field + 8] = struct.pack(">Q", int(start) + MP4_EPOCH)
    return bytes(b)


def frame_hashes(path):
    """(seconds, MD5 of the decoded picture) of every frame of a file, in order, as ffmpeg decodes it (no frame
    dropped or doubled on the way: passthrough timing)."""
    r = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "framemd5", "-"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    num, den = next(line.split(":")[1].strip() for line in r.stdout.splitlines() if line.startswith("#tb 0:")).split("/")
    rows = [[f.strip() for f in line.split(",")] for line in r.stdout.splitlines() if line and not line.startswith("#")]
    return [(int(row[2]) * int(num) / int(den), row[5]) for row in rows]


def archive_frames(made, camera, day):
    """Every frame the test put into `camera`'s archive of `day` (files still there), in time order: (capture time,
    MD5 of the picture). Copies take their template in turn, so a skipped or repeated file changes the sequence."""
    frames = []
    for path, (start, template) in sorted(made[camera].items(), key=lambda item: item[1][0]):
        if path.exists() and path.parent.name == day.isoformat():
            frames += [(start + t, md5) for t, md5 in template]
    return frames


def locate(served, expected, earliest, latest):
    """Index in `expected` where the `served` frames run, starting between `earliest` and `latest`; fails unless the
    served pictures are exactly a stretch of the archive's, none missing, repeated or out of order."""
    hashes = [md5 for _, md5 in served]
    for i, (t, _) in enumerate(expected):
        if earliest <= t <= latest and [md5 for _, md5 in expected[i:i + len(hashes)]] == hashes:
            return i
    raise AssertionError(f"the {len(hashes)} frames served are no stretch of the archive starting between {earliest} and {latest}")


def frames_of(data, tmp_path, name="served.mp4"):
    """Presentation times and the creation time ffprobe reads from bytes the daemon served."""
    path = tmp_path / name
    path.write_bytes(data)
    r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pts_time:format_tags=creation_time",
                        "-of", "json", str(path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    out = json.loads(r.stdout)
    created = datetime.datetime.fromisoformat(out["format"]["tags"]["creation_time"].replace("Z", "+00:00")).timestamp()
    return [float(f["pts_time"]) for f in out["frames"]], created


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A recordings folder with two past days of 10 s segments (13:30 to 14:37:30, a hole 13:50 to 13:55) for
    `front` (H.264) and `rear` (MJPEG), 1,500 files in all, made from real segments the daemon recorded;
    then a daemon serving it and recording on."""
    templates, started = {}, {}
    for camera, codec in (("front", "h264"), ("rear", "mjpeg")):
        root = tmp_path_factory.mktemp(f"template-{codec}")
        d = Daemon("--camera", f"{camera}=testpattern:320x240@10", "--codec", codec, "--segment-seconds", str(SEGMENT),
                   "--fragment-seconds", "1", recordings=root)
        started[camera] = (d, root)
    # Three different segments per camera (each picture has its own overlay clock), copied in turn.
    for camera, (d, root) in started.items():
        wait_for(lambda: len(finished(root)) >= 3, 60, "three segments")
        assert d.stop() == 0
        templates[camera] = [(path.read_bytes(), frame_hashes(path)) for path in finished(root)[:3]]
    # Copies follow each other as segments do: each starts where the one before ends.
    slot = max(duration(data) for each in templates.values() for data, _ in each)
    assert SEGMENT <= slot < SEGMENT + 1.1
    root = tmp_path_factory.mktemp("archive")
    today = datetime.date.today()
    yesterday = today - datetime.timedelta(days=1)
    # Two past days: nothing in the archive lies in the future, whatever the time of the run.
    before_yesterday = yesterday - datetime.timedelta(days=1)
    count, made = 0, {}
    for camera, each in templates.items():
        made[camera] = {}
        for day in (before_yesterday, yesterday):
            folder = root / camera / day.isoformat()
            folder.mkdir(parents=True)
            for i in range(PER_CAMERA_DAY):
                start = local(day, 13, 30) + i * slot
                if local(day, 13, 50) <= start < local(day, 13, 55):
                    continue  # a hole in the recording
                name = time.strftime("%Y%m%d-%H%M%S", time.localtime(start)) + f"_{camera}.mp4"
                data, frames = each[i % 3]
                (folder / name).write_bytes(restamp(data, start))
                os.utime(folder / name, (start + slot, start + slot))
                made[camera][folder / name] = (start, frames)
                count += 1
        events = root / "events" / camera / yesterday.isoformat()
        events.mkdir(parents=True)
        for hh, mm in ((14, 0), (14, 6)):
            start = local(yesterday, hh, mm)
            name = time.strftime("%Y%m%d-%H%M%S", time.localtime(start)) + f"_{camera}_event.mp4"
            (events / name).write_bytes(restamp(each[0][0], start))
            count += 1
    assert count >= 1500
    files_per_day = len(list((root / "front" / yesterday.isoformat()).glob("*.mp4")))
    d = Daemon("--camera", "front=testpattern:320x240@10", "--camera", "rear=testpattern:320x240@10", "--codec", "h264",
               "--segment-seconds", str(SEGMENT), "--fragment-seconds", "1", recordings=root)
    yield d, root, yesterday, today, slot, files_per_day, made
    assert d.stop() == 0


def test_a_day_of_the_archive_answers_fast_with_spans_gaps_and_events(archive):
    d, root, yesterday, _, slot, files_per_day, _ = archive
    # How fast it answers is bench/timeline.py's figure (1,500 and 15,000 files), not a gate on a loaded test machine.
    status, _, body = get(d, f"/api/timeline?camera=front&day={yesterday.isoformat()}")
    assert status == 200, body
    answer = json.loads(body)
    assert len(answer["files"]) == files_per_day
    spans = [(s["start"], s["end"]) for s in answer["spans"]]
    assert spans == [(pytest.approx(local(yesterday, 13, 30), abs=1), pytest.approx(local(yesterday, 13, 50), abs=slot)),
                     (pytest.approx(local(yesterday, 13, 55), abs=slot), pytest.approx(day_end(yesterday, slot), abs=1))], spans
    assert any(abs(g["start"] - local(yesterday, 13, 50)) < slot and abs(g["end"] - local(yesterday, 13, 55)) < slot for g in answer["gaps"])
    assert [round(e["start"]) for e in answer["events"]] == [round(local(yesterday, 14, 0)), round(local(yesterday, 14, 6))]
    # Again, from the index: and after a file is removed underneath, its hole shows.
    victim = sorted((root / "front" / yesterday.isoformat()).glob("*_front.mp4"))[files_per_day // 2]
    victim.unlink()
    answer = json.loads(get(d, f"/api/timeline?camera=front&day={yesterday.isoformat()}")[2])
    assert len(answer["files"]) == files_per_day - 1 and len(answer["spans"]) == 3
    # The index is kept for the next start.
    wait_for((root / ".blackbox" / "index.json").exists, 10, "the index saved")


def test_timeline_recordings_play_and_export_refuse_bad_parameters_naming_what_is_allowed(archive):
    d, _, yesterday, _, slot, _, _ = archive
    cases = [
        ("/api/timeline?day=yesterday", 400, "allowed: YYYY-MM-DD"),
        ("/api/timeline?camera=front&day=2026-11-25&from=2026-11-25T00:00:00Z", 400, "not both"),
        ("/api/timeline?from=2026-11-25T00:00:00Z", 400, "give both from= and to="),
        ("/api/timeline?from=noon&to=2026-11-25T00:00:00Z", 400, "allowed: RFC 3339"),
        ("/api/timeline?camera=nope", 404, "no camera 'nope'"),
        ("/api/timeline?cam=front", 400, "parameter 'cam' is not known; allowed: camera, day, from, to"),
        ("/api/recordings?day=yesterday", 400, "allowed: YYYY-MM-DD"),
        ("/api/recordings?page=2", 400, "allowed: camera, day, kind, type, reason, limit, before, offset"),
        ("/api/recordings?before=x", 400, "the 'next' value of the page before"),
        ("/api/play?camera=front", 400, "give start="),
        ("/api/play?camera=front&start=2026-11-25T14:05:00Z&speed=3", 400, "allowed: 0.5, 1, 2, 4, 8, 16"),
        ("/api/play?camera=front&start=2001-01-01T00:00:00Z", 404, "no recording in the hour"),
        ("/api/export?camera=front&start=2026-11-25T14:05:00Z", 400, "give start= and end="),
        ("/api/export?camera=front&start=2026-11-25T14:05:00Z&end=2026-11-27T14:05:00Z", 400, "at most 24 hours"),
        ("/api/export?camera=front&start=2001-01-01T00:00:00Z&end=2001-01-01T00:10:00Z", 404, "no recording from"),
    ]
    for path, code, words in cases:
        status, _, body = get(d, path)
        assert status == code and words in json.loads(body)["detail"], (path, status, body)
    # Every day with recordings is listed, not only those of the rows returned.
    answer = json.loads(get(d, "/api/recordings?limit=1")[2])
    assert yesterday.isoformat() in answer["days"] and len(answer["recordings"]) == 1


def test_paging_returns_every_file_once_while_new_files_arrive(archive):
    d, root, _, _, _, _, _ = archive
    before = {str(p.relative_to(root)) for p in root.rglob("*.mp4")}
    seen = []
    cursor = None
    while True:
        query = "limit=200" + (f"&before={urllib.parse.quote(cursor)}" if cursor else "")
        answer = json.loads(get(d, f"/api/recordings?{query}")[2])
        seen += [r["path"] for r in answer["recordings"]]
        cursor = answer.get("next")
        if not cursor:
            break
        time.sleep(0.3)  # the daemon records on meanwhile: new files arrive at the front
    assert len(seen) == len(set(seen)), "a file came twice"
    assert before <= set(seen), f"missing: {sorted(before - set(seen))[:5]}"


def test_playback_crosses_segment_boundaries_with_no_missing_or_repeated_frame(archive, tmp_path):
    d, _, yesterday, _, slot, _, made = archive
    start = local(yesterday, 14, 5, 5)
    status, headers, body = get(d, f"/api/play?camera=front&start={urllib.parse.quote(iso(start))}")
    assert status == 200 and headers["Content-Type"] == "video/mp4"
    times, created = frames_of(body, tmp_path)
    steps = [round(b - a, 4) for a, b in zip(times, times[1:])]
    assert set(steps) == {0.1}, f"frame steps other than 1/10 s: {sorted(set(steps))}"
    # The pictures played are those of the files the test made, from the keyframe of the fragment that holds the
    # instant (within a second before it) to the end of the archive's day, across about 190 segments: every frame
    # once, in order (a skipped, repeated or reordered file, or a lost frame, breaks the sequence).
    expected = archive_frames(made, "front", yesterday)
    at = locate(frame_hashes(tmp_path / "served.mp4"), expected, start - 1.0, start)
    assert at + len(times) == len(expected), f"played {len(times)} frames, the archive has {len(expected) - at} from there"
    # What the file and the header say of its start is where its first picture was taken.
    first = expected[at][0]
    assert abs(float(headers["X-Start-Epoch"]) - first) < 0.01 and 0 <= first - (created + times[0]) < 1.0, (first, created)
    # Through the hole at 13:50-13:55: it is skipped, not waited for.
    status, headers, body = get(d, f"/api/play?camera=front&start={urllib.parse.quote(iso(local(yesterday, 13, 49, 50)))}")
    times, _ = frames_of(body, tmp_path, "hole.mp4")
    assert {round(b - a, 4) for a, b in zip(times, times[1:])} == {0.1}
    # MJPEG plays as a stream at the recorded pace times the speed: the recorded time the parts span (their
    # X-Timestamp, the frames' capture times) over the time they took to arrive is 8, never more (a load on this
    # machine can only slow the arrival, so the lower bound is loose: 4x would still be too slow).
    stream = MJPEGStream(d.base, f"/api/play?camera=rear&start={urllib.parse.quote(iso(local(yesterday, 14, 5)))}&speed=8", timeout=30)
    assert stream.content_type.startswith("multipart/x-mixed-replace")
    parts = []
    for _ in range(80):
        headers, _ = stream.next_part()
        parts.append((time.monotonic(), float(headers["x-timestamp"])))
    stream.close()
    # A gap between two files is skipped, not waited for: only frame-to-frame steps count as recorded time.
    steps = [b[1] - a[1] for a, b in zip(parts, parts[1:])]
    pace = sum(s for s in steps if s < 0.2) / (parts[-1][0] - parts[0][0])
    assert 6.0 <= pace <= 8.4, f"played at {pace:.1f}x, asked 8x"


def test_an_export_across_segments_starts_and_ends_where_asked(archive, tmp_path):
    d, _, yesterday, _, slot, _, made = archive
    begin, end = local(yesterday, 14, 3, 30), local(yesterday, 14, 6, 10)
    for camera, slack in (("front", 1.0), ("rear", 0.1)):
        status, headers, body = get(d, f"/api/export?camera={camera}&start={urllib.parse.quote(iso(begin))}&end={urllib.parse.quote(iso(end))}")
        assert status == 200 and "attachment" in headers["Content-Disposition"] and camera in headers["Content-Disposition"]
        times, created = frames_of(body, tmp_path, f"export-{camera}.mp4")
        assert {round(b - a, 4) for a, b in zip(times, times[1:])} == {0.1}
        # Read from the file's pictures: it holds exactly the archive's frames from the one at or before `begin`
        # (H.264: the fragment's keyframe, up to a second before; MJPEG: within a frame) up to `end`, each once.
        expected = archive_frames(made, camera, yesterday)
        at = locate(frame_hashes(tmp_path / f"export-{camera}.mp4"), expected, begin - slack, begin)
        first, last = expected[at][0], expected[at + len(times) - 1][0]
        assert last < end <= expected[at + len(times)][0], (camera, last - end)
        # The file's own start (its creation time, whole seconds, plus the first sample's time) and the header agree.
        assert 0 <= first - (created + times[0]) < 1.0, (camera, first, created, times[0])
        assert abs(datetime.datetime.fromisoformat(headers["X-Start"]).timestamp() - first) < 0.01
        r = subprocess.run(["ffmpeg", "-v", "error", "-i", str(tmp_path / f"export-{camera}.mp4"), "-f", "null", "-"], capture_output=True, text=True)
        assert r.returncode == 0 and r.stderr == ""
    # A span with a hole exports what exists and says so.
    status, headers, _ = get(d, f"/api/export?camera=front&start={urllib.parse.quote(iso(local(yesterday, 13, 49)))}&end={urllib.parse.quote(iso(local(yesterday, 13, 56)))}")
    gaps = [float(g.split()[1].rstrip("s")) for g in headers["X-Gaps"].split(", ")]
    assert status == 200 and len(gaps) == 1 and 300 - slot <= gaps[0] <= 300 + slot, headers["X-Gaps"]


def test_the_segment_being_written_plays_and_downloads(archive, tmp_path):
    d, root, _, _, _, _, _ = archive
    found = {}

    def writing_with_fragments():
        front = [c for c in json.loads(get(d, "/api/status")[2])["cameras"] if c["id"] == "front"][0]
        current = front["recording"]["currentFile"]
        part = root / f"{current}.part"
        if not current or not part.exists() or part.stat().st_size < 40_000:
            return False
        listed = json.loads(get(d, "/api/timeline?camera=front")[2])["files"]
        found.update(current=current, part=part, listed=[f for f in listed if f["path"] == current and f["writing"]])
        return True

    # A segment some seconds into its length (a few whole fragments), shown on today's timeline as being written.
    wait_for(writing_with_fragments, 20, "a segment being written with a few fragments")
    current, part = found["current"], found["part"]
    assert found["listed"], "the segment being written is not on today's timeline"
    size_before = part.stat().st_size
    status, headers, body = get(d, "/recordings/" + current)
    assert status == 200 and int(headers["Content-Length"]) == len(body) <= part.stat().st_size
    times, _ = frames_of(body, tmp_path, "writing.mp4")
    assert len(times) >= 5
    # What was served is the file's own bytes as they were (the writer only appends; serving changed nothing).
    on_disk = part.read_bytes() if part.exists() else (root / current).read_bytes()
    assert on_disk[:len(body)] == body and len(on_disk) >= size_before
    status, _, body = get(d, f"/api/play?camera=front&start={urllib.parse.quote(iso(time.time() - 3))}")
    assert status == 200 and frames_of(body, tmp_path, "live-play.mp4")[0]


def test_a_segment_cut_by_sigkill_plays_after_recovery(tmp_path):
    args = ("--camera", "front=testpattern:320x240@10", "--segment-seconds", "60", "--fragment-seconds", "1")
    d = Daemon(*args, "--codec", "h264", recordings=tmp_path)
    wait_for(lambda: any(p.stat().st_size > 30_000 for p in tmp_path.rglob("*.part")), 30, "a few fragments")
    killed_at = time.time()
    d.stop(signal.SIGKILL)
    d = Daemon(*args, "--codec", "h264", recordings=tmp_path)
    try:
        status, headers, body = get(d, f"/api/play?camera=front&start={urllib.parse.quote(iso(killed_at - 2.5))}")
        assert status == 200
        times, _ = frames_of(body, tmp_path)
        assert float(headers["X-Start-Epoch"]) < killed_at - 1.5 and len(times) >= 10
    finally:
        assert d.stop() == 0


def test_the_timeline_reaches_yesterday_at_1405_and_plays_from_there(archive, tmp_path):
    d, _, yesterday, _, slot, _, _ = archive
    target = local(yesterday, 14, 5)
    driver = chromium(1280, 1000)
    try:
        log_in(driver, d)
        wait(driver, lambda dr: dr.find_element(By.CSS_SELECTOR, "article.camera"))
        driver.get(d.base + "/#recordings")
        wait(driver, lambda dr: Select(dr.find_element(By.ID, "tl-camera")).options, message="no cameras in the timeline")
        Select(driver.find_element(By.ID, "tl-camera")).select_by_value("front")
        driver.find_element(By.ID, "tl-prev").click()
        wait(driver, lambda dr: dr.find_element(By.ID, "tl-date").get_attribute("value") == yesterday.isoformat())
        wait(driver, lambda dr: len(dr.find_elements(By.CSS_SELECTOR, "#tl-bars .tl-span")) >= 2, message="yesterday's spans not drawn")
        shot(driver, "timeline-day")
        track = driver.find_element(By.ID, "tl-track")

        def click_at(t):
            view_start, length = driver.execute_script("return [tl.viewStart, [86400, 21600, 3600, 900, 300][tl.zoom]]")
            width = track.size["width"]
            x = (t - view_start) / length * width
            driver.execute_script("""
                const track = arguments[0], rect = track.getBoundingClientRect(), x = rect.left + arguments[1], y = rect.top + 20;
                for (const type of ["pointerdown", "pointerup"]) track.dispatchEvent(new PointerEvent(type, {clientX: x, clientY: y, bubbles: true, pointerId: 1}));
            """, track, x)

        # Roughly at the day's zoom, then zoomed to five minutes around it, then exactly.
        click_at(target)
        wait(driver, lambda dr: dr.execute_script("return tl.position") is not None, message="nothing plays")
        for _ in range(4):
            driver.find_element(By.ID, "tl-zoom-in").click()
        assert driver.find_element(By.ID, "tl-zoom").text == "5 min"
        click_at(target)
        video = driver.find_element(By.ID, "tl-video")
        wait(driver, lambda dr: dr.execute_script("return arguments[0].currentTime", video) > 1.5, timeout=20, message="the video does not play")
        shot(driver, "timeline-5min")
        src = video.get_attribute("src")
        status, headers, body = get(d, src.replace(d.base, ""))
        served_start = float(headers["X-Start-Epoch"])
        _, created = frames_of(body, tmp_path, "clicked.mp4")
        assert abs(served_start - target) <= 1.0, served_start - target
        assert abs(created - target) <= 1.5
        # The cursor and the clock move while it plays.
        first = driver.execute_script("return tl.position")
        time.sleep(1.5)
        assert driver.execute_script("return tl.position") > first + 0.5
        assert driver.find_element(By.ID, "tl-clock").text.startswith(yesterday.isoformat() + " 14:0")
        # Keyboard: the right arrow jumps 10 s on.
        before = driver.execute_script("return tl.position")
        track.send_keys("\ue014")
        wait(driver, lambda dr: dr.execute_script("return tl.position") > before + 8, message="arrow key did not jump")
        # Mark a span while it plays and protect every file in it.
        driver.find_element(By.ID, "tl-mark-in").click()
        time.sleep(2.5)
        driver.find_element(By.ID, "tl-mark-out").click()
        a, b = driver.execute_script("return tl.selection")
        assert b > a + 1
        driver.find_element(By.ID, "tl-protect").click()
        wait(driver, lambda dr: dr.find_element(By.ID, "tl-message").text.startswith("protected "), message="nothing protected")
        timeline = json.loads(get(d, f"/api/timeline?camera=front&day={yesterday.isoformat()}")[2])
        inside = [f for f in timeline["files"] if f["end"] > a and f["start"] < b]
        assert inside and all(f["protected"] for f in inside)
        assert not any(f["protected"] for f in timeline["files"] if f["end"] < a - 30 or f["start"] > b + 30)
        shot(driver, "timeline-protected")
    finally:
        driver.quit()
    phone = chromium(390, 844, phone=True)
    try:
        log_in(phone, d)
        wait(phone, lambda dr: dr.find_element(By.CSS_SELECTOR, "article.camera"))
        phone.get(d.base + "/#recordings")
        wait(phone, lambda dr: Select(dr.find_element(By.ID, "tl-camera")).options)
        phone.find_element(By.ID, "tl-prev").click()
        wait(phone, lambda dr: len(dr.find_elements(By.CSS_SELECTOR, "#tl-bars .tl-span")) >= 2)
        assert phone.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
        shot(phone, "timeline-day-phone")
        for _ in range(4):
            phone.find_element(By.ID, "tl-zoom-in").click()
        shot(phone, "timeline-5min-phone")
    finally:
        phone.quit()
