"""GPS (#26) through a real gpsd (Debian's), fed a drive as NMEA through a pseudo-terminal: the speed and heading on
the picture, the fixes recorded in every file as a signed Camera Motion Metadata (camm) track, the track as GeoJSON and
GPX (read back by gpsbabel), an over-speed event clip, the clock checked against the GPS, and gpsd killed and started
again while recording goes on. H.264 (the product's default); 10 s segments so that finished files exist in the time
a test may take, and a 960x480 test pattern so that the overlay's font is drawn at twice its size and reads back."""
import calendar
import csv
import io
import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

from conftest import BINARY, Daemon
from helpers import camera_status, free_port, get, refused, status, wait_for
from mjpeg import decode_jpeg
from nmea import GPSD, Drive, distance, feed
from overlay import image_pixel, read_text
from test_mqtt import Broker, Listener, mqtt_config
from test_recording import decodes_cleanly, finished
from test_signing import export_key, ours, theirs, verdicts

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2] / "tools"))
import verify_signatures as independent  # noqa: E402

# (seconds, km/h, heading, fix): away east, faster, a stop, a turn south, no fix (a tunnel), south again.
LEGS = [(8, 50, 90, True), (6, 100, 90, True), (4, 0, 90, True), (6, 30, 180, True), (5, 0, 0, False), (5, 40, 180, True)]
GLYPHS_EXTRA = {
    "M": [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11], "H": [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
    "/": [0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x10], "W": [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
    "P": [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10], "X": [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
    "D": [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
}


def gps(d):
    return status(d)["gps"]


def caption(d):
    """The GPS line as drawn on the live picture (read from a snapshot with the overlay's font, under the clock)."""
    import overlay
    overlay.GLYPHS.update(GLYPHS_EXTRA)
    code, _, body = get(d, "/snapshot")
    assert code == 200
    image = decode_jpeg(body)
    s = max(1, image.size[1] // 240)
    return read_text(image_pixel(image), 3 * s, 13 * s, s, 16).rstrip(" ?")


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


@pytest.fixture(scope="module")
def drive(tmp_path_factory):
    """The whole drive recorded once; what each test checks is gathered while it runs."""
    tmp = tmp_path_factory.mktemp("gps")
    root = tmp / "recordings"
    receiver = GPSD(tmp)
    # A real Mosquitto too, for the Home Assistant device tracker and speed sensor.
    broker = Broker(tmp)
    listener = Listener(broker.port)
    config = tmp / "blackbox.toml"
    config.write_text(f'[gps]\ngpsd = "127.0.0.1:{receiver.port}"\nspeed_event_kmh = 80\n\n' + mqtt_config(tmp, broker.port).read_text())
    d = Daemon("--config", str(config), "--camera", "front=testpattern:960x480@10", "--segment-seconds", "10",
               "--event-pre", "2", "--event-post", "3", recordings=root)
    seen = {"latency": [], "captions": {}}
    began_at = time.monotonic()
    try:
        wait_for(lambda: camera_status(d)["state"] == "streaming", 30, "the camera")
        # Parked at the start until the daemon has a fix: gpsd drops the first sentences while it recognises the
        # receiver (one here, four on a busy CI machine), which no recorder can record.
        parked = Drive([(60, 0, 90, True)])
        thread, stop = feed(receiver, parked)
        wait_for(lambda: gps(d)["state"] == "fix", 30, "a first fix")
        stop.set()
        thread.join()
        seen["parked"] = parked.sent
        time.sleep(1)  # a second between the last parked report and the drive's first, so the span holds only the drive
        route = Drive(LEGS)
        thread, stop = feed(receiver, route)
        # Each change of speed reaches the status (and the picture) within a second.
        for leg, (seconds, kmh, heading, fix) in enumerate(LEGS):
            wait_for(lambda: len(route.leg_started) > leg, 60, f"leg {leg}")
            began = route.leg_started[leg]
            want = f"{kmh} KM/H" if fix else "GPS: NO FIX"
            wait_for(lambda: gps(d)["overlay"].startswith(want), 5, f"'{want}' in leg {leg}")
            seen["latency"].append((leg, time.time() - began))
            time.sleep(0.5)
            seen["captions"][leg] = (want, caption(d))
            if leg == 1:
                seen["status"] = gps(d)
                _, _, seen["metrics"] = get(d, "/metrics")
        thread.join()
        end = time.time()
        span = (route.sent[0][0] - 0.5, end + 1)
        # The files hold a report once the fragment it falls in is written (about a second later, more on a busy machine).
        wait_for(lambda: max(track(d, span)["properties"]["epochs"], default=0) >= route.sent[-1][0] - 0.5, 10,
                 "the drive's last report in the files")
        seen["geojson"] = track(d, span)
        code, _, seen["gpx"] = get(d, "/api/export?" + urllib.parse.urlencode({"camera": "front", "start": iso(span[0]), "end": iso(span[1]),
                                                                           "format": "gpx"}))
        assert code == 200, seen["gpx"]
        # gpsd goes away: said at once, recording goes on; it comes back: connected again.
        written = camera_status(d)["recording"]["framesWritten"]
        receiver.stop()
        wait_for(lambda: gps(d)["state"] == "no gpsd", 5, "no gpsd")
        seen["gone"] = (gps(d), caption(d))
        receiver.start()
        again = Drive([(6, 20, 0, True)], start=route.position)
        thread, stop = feed(receiver, again)
        wait_for(lambda: gps(d)["state"] == "fix", 30, "a fix after gpsd restarted")
        seen["back"] = gps(d)
        thread.join()
        seen["written"] = (written, camera_status(d)["recording"]["framesWritten"])
        seen["mqtt"], seen["again"] = list(listener.messages), again.sent
        seen["seconds"] = time.monotonic() - began_at
    finally:
        assert d.stop() == 0
        receiver.close()
        listener.close()
        broker.stop()
    return root, route, span, seen


def track(d, span):
    """The GPS track the recordings hold in `span`, as the daemon's GeoJSON."""
    code, _, body = get(d, "/api/track?" + urllib.parse.urlencode({"camera": "front", "from": iso(span[0]), "to": iso(span[1])}))
    assert code == 200, body
    return json.loads(body)


def test_the_picture_shows_speed_and_heading_within_a_second_of_each_change(drive):
    _, _, _, seen = drive
    # Each change, the first leg's too (the daemon had a fix while parked before it).
    assert len(seen["latency"]) == len(LEGS) and all(latency < 1.0 for _, latency in seen["latency"]), seen["latency"]
    captions = seen["captions"]
    # Read from the picture itself: speed and heading (east is 90), the stop, the turn south, and no fix.
    assert captions[0][1].startswith("50 KM/H  E 90"), captions
    assert captions[1][1].startswith("100 KM/H  E 90"), captions
    assert captions[3][1].startswith("30 KM/H  S 180"), captions
    assert captions[4][1].startswith("GPS: NO FIX"), captions


def test_status_and_metrics_say_the_fix_speed_satellites_and_the_clock_checked(drive):
    _, _, _, seen = drive
    s = seen["status"]
    assert s["state"] == "fix" and s["units"] == "kmh" and abs(s["speed"] - 100) < 0.5, s
    assert s["release"].startswith("3.") and "protocol 3." in s["release"], s
    assert s["clockChecked"] is True and abs(s["clockOffsetSeconds"]) < 1, s
    assert s["satellitesUsed"] == 9, s
    metrics = seen["metrics"].decode() if isinstance(seen["metrics"], bytes) else seen["metrics"]
    assert "blackbox_gps_fix_bool 1" in metrics and "blackbox_gps_speed_meters_per_second 27.7" in metrics, metrics


def test_home_assistant_gets_a_device_tracker_and_a_speed_sensor_that_follow_the_drive(drive):
    _, route, _, seen = drive
    messages = seen["mqtt"]
    configs = {t: json.loads(p) for t, p, _ in messages if t.startswith("homeassistant/") and t.endswith("/config")}
    tracker = configs["homeassistant/device_tracker/pi1_position/config"]
    speed = configs["homeassistant/sensor/pi1_speed/config"]
    assert tracker["json_attributes_topic"] == "blackbox/pi1/gps" and tracker["source_type"] == "gps", tracker
    assert speed["state_topic"] == "blackbox/pi1/gps" and speed["unit_of_measurement"] == "km/h" and speed["device_class"] == "speed", speed
    assert tracker["device"]["identifiers"] == speed["device"]["identifiers"] == ["blackbox_pi1"]
    states = [(json.loads(p), retained) for t, p, retained in messages if t == "blackbox/pi1/gps"]
    assert states, "nothing published on blackbox/pi1/gps"
    # Every position published is a point of the drive (within 1 m), with the speed driven there; 100 km/h and the
    # stretch without fix (speed unknown) are both seen.
    for state, _ in states:
        if state["state"] == "fix":
            here = (state["latitude"], state["longitude"])
            # The points sent with a fix there (a stop sends one place several times).
            there = [p for p in seen["parked"] + route.sent + seen["again"] if p[5] and distance(p[1:3], here) < 1.0]
            assert any(abs(state["speed"] - p[3] * 3.6) < 0.5 for p in there), (state, there)
            assert "gps_accuracy" in state
    assert any(s["state"] == "fix" and abs(s["speed"] - 100) < 0.5 for s, _ in states), states
    assert any(s["state"] == "no fix" and s["speed"] is None and "latitude" not in s for s, _ in states), states
    # At most one message per 2 s (and a few at each connection).
    assert len(states) <= seen["seconds"] / 2 + 3, (len(states), seen["seconds"])


def test_gpsd_killed_and_restarted_is_reconnected_while_recording_goes_on(drive):
    _, _, _, seen = drive
    gone, shown = seen["gone"]
    assert gone["state"] == "no gpsd" and "gpsd" in gone["error"], gone
    assert shown.startswith("GPS: NO GPSD"), shown
    assert seen["back"]["connects"] >= 2 and seen["back"]["state"] == "fix", seen["back"]
    before, after = seen["written"]
    assert after > before + 30, seen["written"]


def test_the_recorded_track_matches_the_points_sent_and_marks_the_stretch_without_fix(drive):
    _, route, _, seen = drive
    feature = seen["geojson"]
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "LineString", feature
    coordinates, props = feature["geometry"]["coordinates"], feature["properties"]
    sent = [p for p in route.sent if p[5]]
    assert len(coordinates) >= len(sent) - 2, (len(coordinates), len(sent))
    for (lon, lat, _), epoch, speed, heading in zip(coordinates, props["epochs"], props["speeds"], props["headings"]):
        t, slat, slon, sspeed, sheading, _ = min(sent, key=lambda p: abs(p[0] - epoch))
        # Recorded within a second of when it was sent, where it was sent from (1 m), at its speed and heading.
        assert abs(t - epoch) < 1.0, (t, epoch)
        assert distance((lat, lon), (slat, slon)) < 1.0, ((lat, lon), (slat, slon))
        assert abs(speed - sspeed) < 0.1, (speed, sspeed)
        if sspeed > 0:
            assert abs((heading - sheading + 180) % 360 - 180) < 0.5, (heading, sheading)
    lost = [p[0] for p in route.sent if not p[5]]
    assert len(props["noFix"]) == 1, props["noFix"]
    start, end = (calendar.timegm(time.strptime(x[:19], "%Y-%m-%dT%H:%M:%S")) for x in props["noFix"][0])
    assert start <= lost[0] + 1 and end >= lost[-1] - 1, (props["noFix"], lost[0], lost[-1])


def test_the_gpx_is_read_by_gpsbabel_into_the_same_points(drive, tmp_path):
    _, route, span, seen = drive
    gpx = tmp_path / "drive.gpx"
    gpx.write_bytes(seen["gpx"])
    r = subprocess.run(["gpsbabel", "-t", "-i", "gpx", "-f", str(gpx), "-o", "unicsv,utc=0", "-F", "-"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    sent = [p for p in route.sent if p[5]]
    assert len(rows) >= len(sent) - 2, (len(rows), len(sent))
    for row in rows:
        lat, lon = float(row["Latitude"]), float(row["Longitude"])
        assert min(distance((lat, lon), (p[1], p[2])) for p in sent) < 1.0, row
    # The command line writes the same track from the files alone.
    root = drive[0]
    out = tmp_path / "cli.gpx"
    r = subprocess.run([BINARY, "recordings", "export", "--recordings", str(root), "--camera", "front", "--start", iso(span[0]),
                        "--end", iso(span[1]), "--gpx", "--output", str(out)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert out.read_text().count("<trkpt") == len(rows), r.stdout


def metadata_fragments(data):
    """Indexes of the fragments (in file order) whose moof has a run of track 3 (the camm track)."""
    out, index, i = [], 0, 0
    while i + 8 <= len(data):
        size = int.from_bytes(data[i:i + 4], "big")
        kind = data[i + 4:i + 8]
        if kind == b"moof":
            body = data[i:i + size]
            at = body.find(b"tfhd")
            while at >= 0:
                if int.from_bytes(body[at + 8:at + 12], "big") == 3:
                    out.append(index)
                    break
                at = body.find(b"tfhd", at + 4)
            index += 1
        i += size
    return out


def test_every_file_carries_the_camm_track_signed_with_the_picture(drive, tmp_path):
    root, _, _, _ = drive
    files = finished(root)
    assert len(files) >= 3, files
    for path in files:
        out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_tag_string", "-of", "json", str(path)],
                             capture_output=True, text=True, timeout=60)
        kinds = {(s["codec_type"], s["codec_tag_string"]) for s in json.loads(out.stdout)["streams"]}
        assert ("data", "camm") in kinds and ("video", "avc1") in kinds, (path, kinds)
        assert decodes_cleanly(path), path
    pem = export_key(root)
    for code, out in (ours(*files, key=pem), theirs(*files, key=pem)):
        assert code == 0 and set(verdicts(out).values()) == {"INTACT"}, out
    # The clock flag of the fragments signed while the GPS agreed with the clock says so.
    links = [independent.parse_link(f["link"]) for f in independent.read_file(str(files[1]))[1]]
    assert all(link["gps_checked"] for link in links), [link["gps_checked"] for link in links]
    # A flipped byte of a GPS report (the last bytes of a fragment's mdat: the camm run comes last) is CHANGED.
    data = bytearray(files[1].read_bytes())
    from test_signing import fragment_ranges
    fragment = metadata_fragments(bytes(data))[1]
    start, end = fragment_ranges(bytes(data))[fragment]["mdat"]
    data[end - 20] ^= 0x01
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    for code, out in (ours(bad, key=pem), theirs(bad, key=pem)):
        assert code == 1 and verdicts(out) == {"bad.mp4": "CHANGED"} and f"fragment {fragment + 1}: sample data changed" in out, out


def test_going_over_the_speed_limit_saves_an_event_clip_with_the_speed(drive):
    root, _, _, _ = drive
    clips = finished(root, "events")
    assert len(clips) == 1, clips
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format_tags=comment", "-of", "json", str(clips[0])],
                         capture_output=True, text=True, timeout=60)
    assert json.loads(out.stdout)["format"]["tags"]["comment"] == "speed 100 km/h", out.stdout


@pytest.mark.parametrize("args, words", [
    (["--gpsd", "localhost:99999"], "--gpsd 'localhost:99999' is not known; allowed: HOST:PORT"),
    (["--gpsd", "two words:2947"], "allowed: HOST:PORT, e.g. 127.0.0.1:2947"),
])
def test_a_bad_gpsd_address_is_refused_naming_what_is_allowed(args, words):
    assert words in refused(*args)


def test_bad_gps_settings_in_the_file_are_refused_with_the_line_and_what_is_allowed(tmp_path):
    config = tmp_path / "blackbox.toml"
    config.write_text('[gps]\ngpsd = "127.0.0.1:2947"\nunits = "knots"\n')
    assert f"{config}:3: [gps] units = \"knots\": not allowed; allowed: kmh, mph" in refused("--config", config)


def test_without_gpsd_the_daemon_records_and_says_so(tmp_path):
    # Nobody listens on this port: the daemon starts, records, and says there is no gpsd (also on the picture).
    from helpers import free_port
    d = Daemon("--camera", "front=testpattern:960x480@10", "--gpsd", f"127.0.0.1:{free_port()}", recordings=tmp_path)
    try:
        wait_for(lambda: gps(d)["state"] == "no gpsd", 10, "no gpsd")
        wait_for(lambda: caption(d).startswith("GPS: NO GPSD"), 5, "the picture saying so")
        wait_for(lambda: camera_status(d)["recording"]["framesWritten"] > 20, 20, "recording")
        assert "Connection refused" in gps(d)["error"], gps(d)
        # The track's span is checked as the export's is; a span without GPS is an empty track, or 404 as GPX.
        now = time.time()
        for query, code_wanted, words in [
            (f"from={iso(now)}&to={iso(now)}", 400, "to must be after from"),
            (f"from={iso(now)}", 400, "give from= and to="),
            (f"from={iso(now - 90000)}&to={iso(now)}", 400, "at most 24 hours"),
            (f"from={iso(now - 60)}&to={iso(now)}&speed=1", 400, "speed"),
        ]:
            code, _, body = get(d, f"/api/track?camera=front&{query}")
            assert code == code_wanted and words in json.loads(body)["detail"], (query, code, body)
        code, _, body = get(d, f"/api/track?camera=front&from={iso(now - 60)}&to={iso(now)}")
        assert code == 200 and json.loads(body)["geometry"]["coordinates"] == [], body
        code, _, body = get(d, f"/api/export?camera=front&start={iso(now - 60)}&end={iso(now)}&format=gpx")
        assert code == 404 and "no GPS track" in json.loads(body)["detail"], body
    finally:
        assert d.stop() == 0


class TileServer:
    """A map tile server on this host (the browser is offline in the test): every tile is the same 256x256 PNG, and
    each path asked for is kept."""

    def __init__(self):
        import http.server
        import threading
        from PIL import Image
        png = io.BytesIO()
        Image.new("RGB", (256, 256), (200, 220, 200)).save(png, "PNG")
        asked = self.asked = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                asked.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(png.getvalue())))
                self.end_headers()
                self.wfile.write(png.getvalue())

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def tile_of(lat, lon, z):
    """The Web Mercator tile (x, y) at zoom `z` holding a point."""
    import math
    n = 2 ** z
    s = math.sin(math.radians(lat))
    return int((lon + 180) / 360 * n), int((0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)) * n)


def test_the_timeline_draws_the_speed_and_the_track_on_map_tiles_and_a_click_on_the_track_plays_that_moment(drive, tmp_path):
    root, route, _, _ = drive
    from selenium.webdriver.common.by import By
    from test_ui import chromium, log_in, shot, wait
    # The recorded files, and a GPS whose gpsd is not running (the daemon says so and goes on), with map tiles.
    tiles = TileServer()
    config = tmp_path / "blackbox.toml"
    config.write_text(f'[gps]\ngpsd = "127.0.0.1:{free_port()}"\ntiles = "{tiles.origin}/{{z}}/{{x}}/{{y}}.png"\n'
                      'tiles_attribution = "© test tiles"\n')
    d = Daemon("--config", str(config), "--camera", "front=testpattern:320x240@10", recordings=root)
    driver = chromium(1280, 1000)
    try:
        # The page may load images from the tile server, and from nowhere else.
        _, headers, _ = get(d, "/")
        assert f"img-src 'self' data: blob: {tiles.origin};" in headers["Content-Security-Policy"], headers["Content-Security-Policy"]
        log_in(driver, d)
        wait(driver, lambda dr: dr.find_element(By.CSS_SELECTOR, "article.camera"))
        driver.get(d.base + "/#recordings")
        wait(driver, lambda dr: dr.find_element(By.ID, "tl-speed-graph").is_displayed(), timeout=20, message="no speed graph")
        points = driver.find_element(By.ID, "tl-speed-line").get_attribute("points").split()
        assert len(points) >= 30, points
        for _ in range(4):
            driver.find_element(By.ID, "tl-zoom-in").click()
        # Playing from the drive's start shows the player and the map beside it.
        driver.execute_script("playFrom(arguments[0])", route.sent[0][0] + 1)
        wait(driver, lambda dr: dr.find_element(By.ID, "tl-map").is_displayed(), message="no map")
        wait(driver, lambda dr: dr.find_element(By.ID, "tl-map-dot").value_of_css_property("display") != "none", message="no dot on the map")
        # Tiles under the track: those asked for are at one zoom and hold the drive's points (the tile server is on
        # another origin, so a tile that loaded was let through by the page's policy).
        wait(driver, lambda dr: tiles.asked, message="no map tile asked for")
        z = int(tiles.asked[0].split("/")[1])
        asked = {tuple(int(v) for v in p.removesuffix(".png").split("/")[1:]) for p in tiles.asked}
        assert {a[0] for a in asked} == {z} and 10 <= z <= 19, asked
        for point in (route.sent[0], route.sent[-1]):
            assert (z, *tile_of(point[1], point[2], z)) in asked, (point, z, asked)
        assert driver.find_element(By.ID, "tl-map-credit").text == "© test tiles"
        shot(driver, "gps-timeline")
        # A click on the track where the car was 20 s into the drive plays from then (± 1 s: a fragment starts at a keyframe).
        target = route.sent[20]
        driver.execute_script("""
            const [lon, lat] = [arguments[0], arguments[1]];
            const [x, y] = mapPlace(lon, lat);
            const svg = document.getElementById('tl-map'), rect = svg.getBoundingClientRect();
            svg.dispatchEvent(new MouseEvent('click', {clientX: rect.left + x / 300 * rect.width, clientY: rect.top + y / 200 * rect.height, bubbles: true}));
        """, target[2], target[1])
        wait(driver, lambda dr: abs((dr.execute_script("return tl.playStart") or 0) - target[0]) <= 1.0, message="the click did not play that moment")
        shot(driver, "gps-track-clicked")
    finally:
        driver.quit()
        tiles.close()
        assert d.stop() == 0
