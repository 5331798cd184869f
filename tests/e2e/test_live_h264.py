"""Live H.264 (`/stream.mp4`): fragmented MP4 from the next keyframe, decodable by ffmpeg, a fraction of
MJPEG's bytes per viewer, one H.264 encoder however many clients, and the web UI playing it through Media
Source Extensions within a second and a half of the overlay clock, with MJPEG where MSE is missing."""
import json
import subprocess
import threading
import time
import urllib.error
import urllib.request

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from conftest import Daemon
from test_motion import y4m
from test_ui import card, chromium, log_in, shot, wait
from helpers import camera_status as status, h264_threads, wait_for
from overlay import clock_box, local_seconds, overlay_clock, raw_pixel


def boxes(data):
    """Top-level MP4 boxes: (type, bytes) pairs, as far as they are whole."""
    out, i = [], 0
    while i + 8 <= len(data):
        size = int.from_bytes(data[i:i + 4], "big")
        if size < 8 or i + size > len(data):
            break
        out.append((data[i + 4:i + 8].decode("latin-1"), data[i:i + size]))
        i += size
    return out


class Reader(threading.Thread):
    """Reads a live stream into memory for `seconds`, noting when the first bytes and the first fragment came."""

    def __init__(self, url, seconds):
        super().__init__(daemon=True)
        self.url, self.seconds = url, seconds
        self.data, self.headers = bytearray(), None
        self.first_fragment = None
        self.started = time.monotonic()

    def run(self):
        with urllib.request.urlopen(self.url, timeout=10) as r:
            self.headers = r.headers
            while time.monotonic() - self.started < self.seconds:
                chunk = r.read1(65536)
                if not chunk:
                    break
                self.data += chunk
                if self.first_fragment is None and b"moof" in self.data:
                    self.first_fragment = time.monotonic() - self.started


def test_live_h264_is_fragmented_mp4_from_a_keyframe_that_ffmpeg_decodes(tmp_path):
    d = Daemon("--camera", "front=testpattern:640x360@15", "--codec", "h264", recordings=tmp_path / "rec")
    try:
        reader = Reader(d.base + "/stream.mp4?camera=front", 4)
        reader.start()
        reader.join(15)
        assert reader.first_fragment is not None and reader.first_fragment < 1.5, reader.first_fragment
        assert reader.headers["Content-Type"] == "video/mp4" and len(reader.headers["X-Codec"]) == 11 and reader.headers["X-Codec"].startswith("avc1.")
        assert abs(float(reader.headers["X-Start-Epoch"]) - time.time()) < 10
        kinds = [k for k, _ in boxes(bytes(reader.data))]
        assert kinds[:3] == ["ftyp", "moov", "moof"] and kinds.count("moof") >= 40, kinds[:6]
        # The first fragment's sample is a sync sample (trun sample flags without the non-sync bit).
        moof = boxes(bytes(reader.data))[2][1]
        flags = int.from_bytes(moof[-4:], "big")
        assert flags & 0x10000 == 0, hex(flags)
        # The reader stopped mid-fragment: keep the whole boxes.
        path = tmp_path / "live.mp4"
        whole = boxes(bytes(reader.data))
        if whole[-1][0] == "moof":
            whole.pop()  # its mdat was not all read
        path.write_bytes(b"".join(box for _, box in whole))
        probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                                "stream=codec_name,width,height,nb_read_frames", "-of", "json", str(path)], capture_output=True, text=True, timeout=60)
        stream = json.loads(probe.stdout)["streams"][0]
        assert (stream["codec_name"], stream["width"], stream["height"]) == ("h264", 640, 360) and int(stream["nb_read_frames"]) >= 40, stream
        decode = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True, text=True, timeout=60)
        assert decode.returncode == 0 and decode.stderr == "", decode.stderr
        for url, code in [("/stream.mp4?camera=nope", 404), ("/stream.mp4?camera=front&speed=2", 400)]:
            try:
                urllib.request.urlopen(d.base + url, timeout=10)
                raise AssertionError(url)
            except urllib.error.HTTPError as e:
                assert e.code == code, url
    finally:
        assert d.stop() == 0


def test_h264_viewers_get_a_fraction_of_mjpeg_bytes_and_share_one_encoder(tmp_path):
    clip = y4m(tmp_path, "street", "null", 20)
    # The camera records MJPEG: its H.264 encoder runs only while live H.264 clients watch, one for all of them.
    d = Daemon("--camera", f"front=file:{clip}", "--codec", "mjpeg", "--workers", "2", recordings=tmp_path / "rec")
    try:
        assert status(d)["encoders"] == {"jpeg": 2, "h264": 0} and h264_threads(d) == 0
        first = Reader(d.base + "/stream.mp4", 10)
        first.start()
        wait_for(lambda: status(d)["encoders"]["h264"] == 1, 10, "the live-only encoder")
        one_encoder = h264_threads(d)  # counted by the kernel, not by the daemon
        assert one_encoder >= 1
        readers = [first] + [Reader(d.base + "/stream.mp4", 9) for _ in range(2)] + [Reader(d.base + "/stream", 9)]
        for r in readers[1:]:
            r.start()
        wait_for(lambda: len(status(d)["liveStreams"]) == 4, 15, "four live clients")
        s = status(d)
        assert s["encoders"] == {"jpeg": 2, "h264": 1} and s["h264"]["liveOnly"] is True, s["encoders"]
        assert h264_threads(d) == one_encoder, "a second H.264 encoder started for more clients"
        assert sorted(c["kind"] for c in s["liveStreams"]) == ["h264", "h264", "h264", "mjpeg"], s["liveStreams"]
        for r in readers:
            r.join(15)
        # The bytes each reader received over the same 9 s: the street clip at 768x576, 10 fps, H.264 is about a
        # third of the MJPEG bytes (bench: 24 vs 69 KiB a frame).
        mjpeg = len(readers[-1].data)
        assert mjpeg > 9 * 10 * 20_000, f"{mjpeg} MJPEG bytes in 9 s"
        for r in readers[1:-1]:
            assert 0 < len(r.data) < 0.5 * mjpeg, (len(r.data), mjpeg)
        wait_for(lambda: status(d)["encoders"]["h264"] == 0 and status(d)["liveStreams"] == [], 10, "the live-only encoder stopped")
        wait_for(lambda: h264_threads(d) == 0, 10, "the encoder's threads gone")
        # Recording went on in MJPEG all along.
        assert status(d)["codec"] == "mjpeg" and status(d)["recording"]["droppedFrames"] == 0
    finally:
        assert d.stop() == 0


def test_the_web_ui_plays_live_h264_near_the_clock_and_falls_back_to_mjpeg_without_mse(tmp_path):
    # 720p, the default size: the overlay's glyphs are 3 pixels a dot, readable after H.264 (at 360 rows they are one).
    d = Daemon("--camera", "front=testpattern:1280x720@15", "--codec", "h264", recordings=tmp_path / "rec")
    try:
        plays_h264_and_switches(d)
        falls_back_to_mjpeg_without_mse(d)
    finally:
        assert d.stop() == 0


def plays_h264_and_switches(d):
    driver = chromium()
    try:
        log_in(driver, d)
        front = wait(driver, lambda drv: card(drv, "front"), timeout=30)
        wait(driver, lambda drv: front.get_attribute("data-live") == "h264", message="auto did not choose H.264 for an H.264 camera")
        video = front.find_element(By.CSS_SELECTOR, "video.live-video")
        wait(driver, lambda drv: drv.execute_script("return arguments[0].videoWidth", video) == 1280, timeout=15, message="no video")
        assert front.find_element(By.CSS_SELECTOR, ".live-kind").text == "H.264"
        # The picture moves on, and what is shown stays within 1.5 s of the clock burnt into it at capture: the
        # picture on screen is drawn into a canvas and its overlay clock read, against the browser's clock.
        t0 = driver.execute_script("return arguments[0].currentTime", video)
        time.sleep(3)
        assert driver.execute_script("return arguments[0].currentTime", video) > t0 + 2
        lags = [lag for lag in (shown_lag(driver, video, 720) for _ in range(10)) if lag is not None]
        assert len(lags) >= 5, f"the overlay clock read in {len(lags)} of 10 pictures"
        assert max(lags) <= 1.5 and min(lags) > -0.1, lags
        shot(driver, "30-live-h264")
        # No MJPEG connection while H.264 plays.
        assert not front.find_element(By.CSS_SELECTOR, "img.live").get_attribute("src")
        # The switch: MJPEG on request.
        Select(front.find_element(By.CSS_SELECTOR, "select.live-choice")).select_by_value("mjpeg")
        wait(driver, lambda drv: front.get_attribute("data-live") == "mjpeg" and front.find_element(By.CSS_SELECTOR, "img.live").is_displayed(),
             message="the switch did not show MJPEG")
        Select(front.find_element(By.CSS_SELECTOR, "select.live-choice")).select_by_value("auto")
        wait(driver, lambda drv: front.get_attribute("data-live") == "h264", message="auto did not return to H.264")
    finally:
        driver.quit()


def shown_lag(driver, video, height):
    """Seconds between the browser's clock and the overlay clock of the picture the <video> shows now (None when
    the clock does not read)."""
    width, rows = clock_box(height)
    grey, now = driver.execute_script("""
        const [v, w, h] = arguments;
        const c = document.createElement('canvas');
        c.width = w; c.height = h;
        const g = c.getContext('2d', {willReadFrequently: true});
        g.drawImage(v, 0, 0, w, h, 0, 0, w, h);
        const now = Date.now() / 1000;
        const d = g.getImageData(0, 0, w, h).data;
        return [Array.from({length: w * h}, (_, i) => d[i * 4 + 1]), now];""", video, width, rows)
    clock = overlay_clock(raw_pixel(grey, width), height)
    time.sleep(0.3)
    return None if clock is None else local_seconds(now) - clock


def falls_back_to_mjpeg_without_mse(d):
    # A browser without Media Source Extensions gets MJPEG, and cannot choose H.264.
    driver = chromium()
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": "delete window.MediaSource; delete window.ManagedMediaSource;"})
        log_in(driver, d)
        front = wait(driver, lambda drv: card(drv, "front"), timeout=30)
        wait(driver, lambda drv: front.get_attribute("data-live") == "mjpeg", message="no MJPEG fallback")
        assert front.find_element(By.CSS_SELECTOR, "img.live").is_displayed() and not front.find_element(By.CSS_SELECTOR, "video.live-video").is_displayed()
        assert front.find_element(By.CSS_SELECTOR, 'select.live-choice option[value="h264"]').get_attribute("disabled") is not None
        wait(driver, lambda drv: drv.execute_script("return arguments[0].naturalWidth", front.find_element(By.CSS_SELECTOR, "img.live")) == 1280,
             message="no MJPEG picture")
        shot(driver, "31-live-mjpeg-fallback")
    finally:
        driver.quit()
