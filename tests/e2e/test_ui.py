"""The web UI in a real headless Chromium (Debian's chromium + chromedriver, driven by Selenium).

Screenshots of every step are saved under test-artifacts/ui/ (BLACKBOX_ARTIFACTS overrides)."""
import json
import os
import pathlib
import time
import urllib.error
import urllib.request

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import ROOT, Daemon
from helpers import post

ARTIFACTS = pathlib.Path(os.environ.get("BLACKBOX_ARTIFACTS", ROOT / "test-artifacts")) / "ui"


def chromium(width=1280, height=1000, phone=False):
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if phone:
        # A desktop window cannot be narrower than 500 px; device emulation gives a real phone viewport.
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": {"width": width, "height": height, "pixelRatio": 2}})
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", f"--window-size={width},{height}"]:
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)


def shot(driver, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def wait(driver, condition, timeout=15, message=""):
    # The page re-renders lists as it refreshes them: an element read a moment ago may be gone; look again.
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.2, ignored_exceptions=[StaleElementReferenceException]).until(
            lambda d: condition(d), message)
    except TimeoutException as e:
        # What the browser showed when the wait gave up: a rare failure is otherwise a bare stack of addresses.
        shot(driver, "timeout")
        try:
            seen = driver.execute_script("return [location.href, document.readyState, (document.body && document.body.innerText || '').slice(0, 600)]")
        except Exception as inner:  # the page itself may be what broke
            seen = repr(inner)
        raise TimeoutException(f"{message} (after {timeout} s the browser showed: {seen})") from e


def api(daemon, path):
    with urllib.request.urlopen(daemon.base + path, timeout=10) as r:
        return json.load(r)


@pytest.fixture(scope="module")
def ui_daemon():
    d = Daemon("--camera", "front=testpattern:640x360@15", "--camera", "rear=testpattern:320x240@10",
               "--segment-seconds", "2", "--fragment-seconds", "0.5", "--event-pre", "1", "--event-post", "1")
    # Front records the default, H.264; rear is switched to Motion JPEG, as a user may do in Settings, so that the page's
    # MJPEG views (live picture, replay) are seen too. The settings test switches it back.
    code, _ = post(d, "/api/cameras/rear/settings", {"codec": "mjpeg"})
    assert code == 200
    yield d
    assert d.stop() == 0


@pytest.fixture(scope="module")
def browser(ui_daemon):
    driver = chromium()
    yield driver
    driver.quit()


def log_in(driver, daemon, password=None):
    driver.get(daemon.base + "/")
    wait(driver, lambda d: d.current_url.endswith("/login"), message="not sent to the login page")
    field = driver.find_element(By.ID, "password")
    field.send_keys(password or daemon.password)
    if driver.execute_script("return navigator.maxTouchPoints > 0"):
        # On an emulated phone chromedriver turns a click into a touch tap, which was once lost (the page stayed at
        # the login form without a word); a phone keyboard's Go key submits the form the same way, without the tap.
        field.send_keys(Keys.ENTER)
    else:
        driver.find_element(By.ID, "login").click()


def finished_segment(driver):
    """The first listed segment that is not being written, refreshing the list until there is one."""
    rows = [r for r in driver.find_elements(By.CSS_SELECTOR, '#rec-body tr[data-kind="segment"]')
            if not r.find_elements(By.CSS_SELECTOR, ".tag.writing")]
    if rows:
        return rows[0]
    driver.find_element(By.ID, "rec-refresh").click()
    return None


def card(driver, camera):
    return driver.find_element(By.CSS_SELECTOR, f'article.camera[data-camera="{camera}"]')


def test_refused_without_a_session(ui_daemon):
    driver = chromium()
    try:
        driver.get(ui_daemon.base + "/")
        wait(driver, lambda d: d.current_url.endswith("/login"), message="the UI opened without a login")
        shot(driver, "01-login")
        # The API and the live stream answer 401 to a browser without a session.
        for path in ["/api/status", "/stream", "/snapshot"]:
            status = driver.execute_async_script(
                f"const done = arguments[0]; fetch('{path}', {{headers: {{'X-Requested-With': 'blackbox'}}}}).then(r => done(r.status));")
            assert status == 401, path
        status = driver.execute_async_script(
            "const done = arguments[0]; fetch('/api/recordings', {headers: {'X-Requested-With': 'blackbox'}}).then(r => done(r.status));")
        assert status == 401
        posted = driver.execute_async_script(
            "const done = arguments[0]; fetch('/api/recording/stop', {method: 'POST', headers: {'X-Requested-With': 'blackbox'}}).then(r => done(r.status));")
        assert posted == 401
        # A wrong password shows the error on the form and opens no session.
        driver.find_element(By.ID, "password").send_keys("not-the-password")
        driver.find_element(By.ID, "login").click()
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".login .error"), message="no error shown")
        assert "wrong user or password" in driver.find_element(By.CSS_SELECTOR, ".login .error").text
        assert driver.get_cookie("blackbox_session") is None
        shot(driver, "02-wrong-password")
    finally:
        driver.quit()


def test_logs_in_and_sees_the_live_image_change(browser, ui_daemon):
    log_in(browser, ui_daemon)
    wait(browser, lambda d: d.current_url.rstrip("/").endswith(str(ui_daemon.port)) or d.current_url.endswith("/#live"))
    cookie = browser.get_cookie("blackbox_session")
    assert cookie and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "article.camera")) == 2, message="camera cards missing")
    wait(browser, lambda d: card(d, "front").find_element(By.CSS_SELECTOR, ".badge").text == "LIVE", message="front never LIVE")
    # Front records H.264: the page plays it live through Media Source Extensions. Rear records MJPEG: the page shows
    # its JPEGs. Each picture is decoded at the camera's width and changes.
    for camera, kind, selector, width_of, width in [("front", "h264", "video.live-video", "videoWidth", 640),
                                                     ("rear", "mjpeg", "img.live", "naturalWidth", 320)]:
        shown = card(browser, camera)
        wait(browser, lambda d: shown.get_attribute("data-live") == kind, message=f"{camera} is not shown in {kind}")
        picture = shown.find_element(By.CSS_SELECTOR, selector)
        wait(browser, lambda d: d.execute_script(f"return arguments[0].{width_of}", picture) == width, message=f"no picture from {camera}")
        first = picture.screenshot_as_png
        wait(browser, lambda d: picture.screenshot_as_png != first, message=f"the {camera} picture did not change")
    # The status panel fills in: uptime, CPU, disk gauge.
    wait(browser, lambda d: "core" in d.find_element(By.ID, "sys-cpu").text, message="no CPU figure")
    assert "free" in browser.find_element(By.ID, "sys-disk-text").text
    assert float(browser.find_element(By.ID, "sys-disk").get_attribute("value")) > 0
    wait(browser, lambda d: card(d, "front").find_element(By.CSS_SELECTOR, ".fps-in").text not in ("–", ""))
    shot(browser, "03-live")


def test_stops_and_starts_recording(browser, ui_daemon):
    front = card(browser, "front")
    toggle = front.find_element(By.CSS_SELECTOR, ".rec-toggle")
    wait(browser, lambda d: toggle.text == "Stop recording" and front.get_attribute("data-recording") == "recording")
    toggle.click()
    wait(browser, lambda d: toggle.text == "Start recording" and front.get_attribute("data-recording") == "stopped",
         message="the UI did not show recording stopped")
    assert api(ui_daemon, "/api/status")["cameras"][0]["recording"]["enabled"] is False
    shot(browser, "04-recording-stopped")
    toggle.click()
    wait(browser, lambda d: toggle.text == "Stop recording" and front.get_attribute("data-recording") == "recording",
         message="the UI did not show recording again")
    assert api(ui_daemon, "/api/status")["cameras"][0]["recording"]["state"] == "recording"


def test_saves_an_event_clip_and_finds_it_in_the_list(browser, ui_daemon):
    browser.get(ui_daemon.base + "/#live")
    front = wait(browser, lambda d: card(d, "front"))
    front.find_element(By.CSS_SELECTOR, "button.event").click()
    msg = front.find_element(By.CSS_SELECTOR, ".msg")
    wait(browser, lambda d: "events/front/" in msg.text, message="no event confirmation")
    clip = msg.text.split("saved: ", 1)[1].split(" ", 1)[0]
    browser.find_element(By.CSS_SELECTOR, 'nav a[data-section="recordings"]').click()
    # A clip someone asked for is a manual clip, as a dashcam files it.
    Select(browser.find_element(By.ID, "rec-kind")).select_by_value("manual")

    def listed(d):
        rows = d.find_elements(By.CSS_SELECTOR, f'#rec-body tr[data-path="{clip}"]')
        if rows and not rows[0].find_elements(By.CSS_SELECTOR, ".tag.writing"):
            return rows[0]
        d.find_element(By.ID, "rec-refresh").click()
        return None

    row = wait(browser, listed, timeout=20, message=f"event clip {clip} never listed as finished")
    assert row.find_element(By.CSS_SELECTOR, ".tag.manual").text == "manual: button"
    shot(browser, "05-event-listed")
    # Protect it, see the mark, and unprotect it again.
    row.find_element(By.CSS_SELECTOR, "button.protect").click()
    row = wait(browser, lambda d: next(iter(d.find_elements(
        By.CSS_SELECTOR, f'#rec-body tr[data-path="{clip}"] .tag.protected')), None), message="no protected mark")
    entry = [r for r in api(ui_daemon, "/api/recordings")["recordings"] if r["path"] == clip][0]
    assert entry["protected"] is True
    browser.find_element(By.CSS_SELECTOR, f'#rec-body tr[data-path="{clip}"] button.protect').click()
    wait(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, f'#rec-body tr[data-path="{clip}"] .tag.protected'))
    Select(browser.find_element(By.ID, "rec-kind")).select_by_value("")


def test_plays_a_recording_and_seeks(browser, ui_daemon):
    browser.get(ui_daemon.base + "/#recordings")
    # Front's H.264 recording plays in a <video> from the file itself (HTTP Range), seekable with its controls.
    Select(wait(browser, lambda d: d.find_element(By.ID, "rec-camera"))).select_by_value("front")
    row = wait(browser, finished_segment, message="no finished H.264 segment listed")
    path = row.get_attribute("data-path")
    row.find_element(By.CSS_SELECTOR, "button.play").click()
    video = browser.find_element(By.ID, "player-video")
    wait(browser, lambda d: d.execute_script("return arguments[0].videoWidth", video) == 640, message="H.264 playback shows no picture")
    assert video.get_attribute("src").endswith(f"/recordings/{path}")
    browser.execute_script("arguments[0].pause(); arguments[0].currentTime = 1.5", video)
    wait(browser, lambda d: abs(d.execute_script("return arguments[0].currentTime", video) - 1.5) < 0.1
         and d.execute_script("return arguments[0].readyState", video) >= 2, message="seeking the H.264 recording failed")
    shot(browser, "06-playback-h264")
    browser.find_element(By.ID, "player-close").click()
    # Rear's MJPEG recording is replayed as JPEGs at the recorded pace, from the asked time.
    Select(browser.find_element(By.ID, "rec-camera")).select_by_value("rear")
    row = wait(browser, finished_segment, timeout=20, message="no finished MJPEG segment listed")
    assert row.find_elements(By.TAG_NAME, "td")[3].text.startswith("0:0")  # duration column, ~2 s segments
    path = row.get_attribute("data-path")
    row.find_element(By.CSS_SELECTOR, "button.play").click()
    player = browser.find_element(By.ID, "player-img")
    wait(browser, lambda d: d.execute_script("return arguments[0].naturalWidth", player) > 0, message="playback shows no picture")
    assert f"/recordings/{path}/play?t=0" in player.get_attribute("src")
    shot(browser, "06-playback")
    seek = browser.find_element(By.ID, "player-seek")
    browser.execute_script("arguments[0].value = 1; arguments[0].dispatchEvent(new Event('change'))", seek)
    wait(browser, lambda d: player.get_attribute("src").endswith("play?t=1"), message="seeking did not reload at t=1")
    browser.find_element(By.ID, "player-close").click()
    assert not browser.find_element(By.ID, "player").is_displayed()
    # The download link serves the file itself.
    link = row.find_element(By.CSS_SELECTOR, "a.download").get_attribute("href")
    request = urllib.request.Request(link, headers={"Range": "bytes=0-7"})
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.status == 206 and r.read()[4:8] == b"ftyp"


def test_recordings_are_marked_signed_verify_in_place_and_settings_show_the_key(browser, ui_daemon):
    browser.get(ui_daemon.base + "/#recordings")
    row = wait(browser, finished_segment, timeout=20, message="no finished segment listed")
    path = row.get_attribute("data-path")
    assert row.find_element(By.CSS_SELECTOR, ".tag.signed").text == "signed ✓"
    row.find_element(By.CSS_SELECTOR, "button.verify").click()
    wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, f'#rec-body tr[data-path="{path}"] button.verify').text == "Verified ✓",
         message="the recording was not verified")
    key = api(ui_daemon, "/api/device-key")
    browser.get(ui_daemon.base + "/#settings")
    wait(browser, lambda d: d.find_element(By.ID, "key-fingerprint").text == key["fingerprint"], message="no key fingerprint in Settings")
    assert browser.find_element(By.ID, "key-public").text == key["publicKey"]
    assert browser.find_element(By.ID, "key-download").get_attribute("href").startswith("blob:")
    shot(browser, "07-about-this-recorder")


def test_settings_change_size_and_quality_without_restart(browser, ui_daemon):
    browser.get(ui_daemon.base + "/#settings")
    form = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, 'form.camera-settings[data-camera="rear"]'))
    # The camera's RTSP address as this browser reaches the daemon.
    assert form.find_element(By.CSS_SELECTOR, ".rtsp-url").text == f"rtsp://127.0.0.1:{ui_daemon.rtsp_port}/rear"
    sizes = [o.get_attribute("value") for o in Select(form.find_element(By.CSS_SELECTOR, "select.size")).options]
    assert "320x240" in sizes and "640x480" in sizes
    Select(form.find_element(By.CSS_SELECTOR, "select.size")).select_by_value("640x480")
    Select(form.find_element(By.CSS_SELECTOR, "select.fps")).select_by_value("5")
    quality = form.find_element(By.CSS_SELECTOR, "input.quality")
    browser.execute_script("arguments[0].value = 40; arguments[0].dispatchEvent(new Event('input'))", quality)
    overlay = form.find_element(By.CSS_SELECTOR, "input.overlay")
    overlay.click()
    assert Select(form.find_element(By.CSS_SELECTOR, "select.codec")).first_selected_option.get_attribute("value") == "mjpeg"
    Select(form.find_element(By.CSS_SELECTOR, "select.codec")).select_by_value("h264")
    form.find_element(By.CSS_SELECTOR, "button.apply").click()
    msg = form.find_element(By.CSS_SELECTOR, ".msg")
    wait(browser, lambda d: msg.text.startswith("Applied"), message=f"settings not applied: {msg.text}")
    assert "640×480 at 5 fps, quality 40, overlay off, recording h264" in msg.text
    shot(browser, "07-settings")
    rear = [c for c in api(ui_daemon, "/api/status")["cameras"] if c["id"] == "rear"][0]
    assert (rear["width"], rear["height"], rear["configuredFps"], rear["quality"], rear["overlay"], rear["codec"]) == (640, 480, 5, 40, False, "h264")
    # The live view shows the new size (in H.264 now that the camera records it, where the browser plays it).
    browser.get(ui_daemon.base + "/#live")
    wait(browser, lambda d: d.execute_script(
        "const c = document.querySelector('article.camera[data-camera=rear]');"
        "return c && (c.dataset.live === 'h264' ? c.querySelector('video').videoWidth : c.querySelector('img.live').naturalWidth)") == 640,
         message="live view kept the old size")


def test_phone_layout_fits_the_screen(ui_daemon):
    phone = chromium(390, 844, phone=True)
    try:
        log_in(phone, ui_daemon)
        wait(phone, lambda d: len(d.find_elements(By.CSS_SELECTOR, "article.camera")) == 2)
        # Laid out with its content: both pictures decoded and the status panel filled.
        wait(phone, lambda d: d.execute_script(
            "return [...document.querySelectorAll('article.camera')].every(c => c.dataset.live === 'h264'"
            " ? c.querySelector('video').videoWidth > 0 : c.querySelector('img.live').naturalWidth > 0)"
            " && document.getElementById('sys-uptime').textContent !== '–'"), message="the phone page never filled in")
        assert phone.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1"), "page wider than a phone"
        # Each camera's picture is on the screen whole, however the page laid it out.
        assert phone.execute_script(
            "return [...document.querySelectorAll('article.camera')].map(c => c.querySelector(c.dataset.live === 'h264' ? 'video' : 'img.live'))"
            ".every(p => { const r = p.getBoundingClientRect(); return r.width > 200 && r.left >= 0 && r.right <= window.innerWidth + 1 })"), \
            "a picture is cut off or tiny on a phone"
        shot(phone, "08-phone-live")
        phone.get(ui_daemon.base + "/#recordings")
        wait(phone, lambda d: d.find_elements(By.CSS_SELECTOR, "#rec-body tr button.play"))
        play = phone.find_element(By.CSS_SELECTOR, "#rec-body tr button.play")
        assert phone.execute_script("return arguments[0].getBoundingClientRect().right <= window.innerWidth", play), "buttons off screen"
        shot(phone, "09-phone-recordings")
    finally:
        phone.quit()


def test_logout_ends_the_session(browser, ui_daemon):
    browser.get(ui_daemon.base + "/")
    wait(browser, lambda d: d.find_elements(By.ID, "logout")).__getitem__(0).click()
    wait(browser, lambda d: d.current_url.endswith("/login"))
    browser.get(ui_daemon.base + "/")
    wait(browser, lambda d: d.current_url.endswith("/login"), message="still logged in after logging out")


def test_no_signal_and_reconnecting_are_shown(tmp_path):
    # The capture loop stalls after 2 s (named fault-injection hook): the picture stops, and the UI must say so.
    d = Daemon("--camera", "front=testpattern:320x240@10", "--no-record", env={"BLACKBOX_FAULT_INJECT": "stall-capture-after=2"})
    driver = chromium()
    try:
        log_in(driver, d)
        front = wait(driver, lambda drv: card(drv, "front"))
        wait(driver, lambda drv: front.find_element(By.CSS_SELECTOR, ".badge").text != "LIVE", timeout=15,
             message="a stalled camera is still shown as LIVE")
        assert front.find_element(By.CSS_SELECTOR, ".badge").text in ("reconnecting…", "NO SIGNAL")
        shot(driver, "10-stalled-camera")
        # The daemon goes away: the page says the connection is lost.
        assert d.stop() == 0
        wait(driver, lambda drv: drv.find_element(By.ID, "banner").is_displayed(), timeout=10, message="no connection-lost banner")
        assert "reconnecting" in driver.find_element(By.ID, "banner").text
        shot(driver, "11-connection-lost")
    finally:
        driver.quit()
        assert d.stop() == 0


def test_plays_an_h264_recording_in_a_video_element_and_seeks(tmp_path):
    d = Daemon("--camera", "front=testpattern:640x360@15", "--codec", "h264", "--segment-seconds", "4", recordings=str(tmp_path / "rec"))
    driver = chromium()
    try:
        log_in(driver, d)
        wait(driver, lambda drv: api(d, "/api/recordings?kind=segment")["recordings"] and
             any(not r["writing"] for r in api(d, "/api/recordings?kind=segment")["recordings"]), timeout=30, message="no finished segment")
        driver.get(d.base + "/#recordings")
        row = wait(driver, finished_segment, message="no finished segment listed")
        path = row.get_attribute("data-path")
        assert api(d, "/api/recordings?kind=segment")["recordings"][-1]["codec"] == "h264"
        row.find_element(By.CSS_SELECTOR, "button.play").click()
        video = driver.find_element(By.ID, "player-video")
        assert not driver.find_element(By.ID, "player-img").is_displayed()
        wait(driver, lambda drv: drv.execute_script("return arguments[0].videoWidth", video) == 640, message="the video has no picture")
        assert video.get_attribute("src").endswith(f"/recordings/{path}")
        wait(driver, lambda drv: drv.execute_script("return arguments[0].currentTime", video) > 0.5, message="playback does not advance")
        shot(driver, "09-h264-playback")
        driver.execute_script("arguments[0].pause(); arguments[0].currentTime = 2.5", video)
        wait(driver, lambda drv: drv.execute_script("return !arguments[0].seeking && Math.abs(arguments[0].currentTime - 2.5) < 0.1", video),
             message="the seek did not land at 2.5 s")
        # The MJPEG replay route says what to do with an H.264 file instead of sending garbage.
        request = urllib.request.Request(f"{d.base}/recordings/{path}/play")
        try:
            urllib.request.urlopen(request, timeout=10)
            raise AssertionError("replay of an H.264 recording was accepted")
        except urllib.error.HTTPError as e:
            assert e.code == 409 and b"<video>" in e.read()
    finally:
        driver.quit()
        assert d.stop() == 0


def test_motion_zone_over_the_live_view_motion_badge_mode_switch_and_motion_filter(tmp_path):
    from test_motion import y4m, zone_config
    clip = y4m(tmp_path, "street", "null", 30)
    config = zone_config(tmp_path, clip, ("include", [0.25, 0.3, 0.7, 0.35]))
    d = Daemon("--config", str(config), recordings=tmp_path / "rec")
    driver = chromium()
    try:
        log_in(driver, d)
        front = wait(driver, lambda drv: card(drv, "front"))
        # The include zone is drawn over the picture, in the picture's own coordinates (768x576).
        wait(driver, lambda drv: front.find_elements(By.CSS_SELECTOR, "svg.zones polygon.include")
             and front.find_element(By.CSS_SELECTOR, "svg.zones").get_dom_attribute("viewBox") == "0 0 768 576", message="no zone drawn")
        polygon = front.find_element(By.CSS_SELECTOR, "svg.zones polygon.include")
        first = [float(v) for v in polygon.get_dom_attribute("points").split()[0].split(",")]
        assert abs(first[0] - 0.25 * 768) < 0.01 and abs(first[1] - 0.3 * 576) < 0.01, first
        # The walkers raise the motion badge; the mode select shows motion mode.
        wait(driver, lambda drv: front.find_element(By.CSS_SELECTOR, ".motion-badge").is_displayed(), timeout=25, message="no motion badge")
        assert front.get_attribute("data-motion") == "motion"
        mode = Select(front.find_element(By.CSS_SELECTOR, "select.mode"))
        assert mode.first_selected_option.get_attribute("value") == "motion"
        shot(driver, "20-motion-zone-and-badge")
        mode.select_by_value("continuous")
        wait(driver, lambda drv: api(d, "/api/status")["cameras"][0]["recordMode"] == "continuous", message="the mode did not change")
        wait(driver, lambda drv: front.get_attribute("data-recording") == "recording", message="the UI does not show recording")
        # The recordings list filters motion clips (the clip motion started before the switch).
        driver.find_element(By.CSS_SELECTOR, 'nav a[href="#recordings"]').click()
        Select(driver.find_element(By.ID, "rec-kind")).select_by_value("motion")
        # Read inside the wait: the list re-renders while it loads.
        wait(driver, lambda drv: (rows := drv.find_elements(By.CSS_SELECTOR, "#rec-body tr[data-kind=event]"))
             and all(r.find_elements(By.CSS_SELECTOR, ".tag.motion") for r in rows), message="no motion clip listed, or one without its tag")
        assert not driver.find_elements(By.CSS_SELECTOR, "#rec-body tr[data-kind=segment]")
        shot(driver, "21-motion-clips")
    finally:
        driver.quit()
        assert d.stop() == 0


def test_sound_plays_in_the_browser_and_the_live_view_mutes_it_and_shows_its_level(tmp_path):
    d = Daemon("--camera", "front=testpattern:640x360@15", "--camera-audio", "front=test:click", "--segment-seconds", "4",
               recordings=str(tmp_path / "rec"))
    driver = chromium()
    try:
        log_in(driver, d)
        front = wait(driver, lambda drv: card(drv, "front"), message="no camera card")
        mute = front.find_element(By.CSS_SELECTOR, "button.mute")
        wait(driver, lambda drv: mute.is_displayed() and "dBFS" in front.find_element(By.CSS_SELECTOR, ".sound").text
             or "silent" in front.find_element(By.CSS_SELECTOR, ".sound").text, message="no sound level on the card")
        assert mute.text == "Mute sound"
        mute.click()
        wait(driver, lambda drv: api(d, "/api/status")["cameras"][0]["audio"]["muted"], message="the button did not mute")
        wait(driver, lambda drv: mute.text == "Unmute sound" and front.find_element(By.CSS_SELECTOR, ".sound").text == "muted",
             message="the card does not show the mute")
        mute.click()
        wait(driver, lambda drv: not api(d, "/api/status")["cameras"][0]["audio"]["muted"], message="the button did not unmute")
        # The live H.264 view carries the sound: the page decodes it while muted (as pages must start), Listen unmutes it.
        listen = front.find_element(By.CSS_SELECTOR, "button.listen")
        wait(driver, lambda drv: listen.is_displayed(), message="no Listen button on the live H.264 view")
        live_sound = "const v = arguments[0].querySelector('video.live-video'); return [v.webkitAudioDecodedByteCount, v.muted, v.currentTime];"
        wait(driver, lambda drv: (a := drv.execute_script(live_sound, front))[0] > 0 and a[1] and a[2] > 0.5, message="the live view decodes no sound")
        listen.click()
        wait(driver, lambda drv: drv.execute_script(live_sound, front)[1] is False and listen.text == "Silence", message="Listen did not unmute")
        playing = driver.execute_script(live_sound, front)
        wait(driver, lambda drv: (a := drv.execute_script(live_sound, front))[0] > playing[0] and a[2] > playing[2] + 1,
             message="the live view stopped when unmuted")
        # Listening is kept when the live view connects again (here: MJPEG chosen, then H.264 again).
        choice = Select(front.find_element(By.CSS_SELECTOR, ".live-choice"))
        choice.select_by_value("mjpeg")
        wait(driver, lambda drv: not listen.is_displayed(), message="Listen shown on MJPEG")
        choice.select_by_value("h264")
        wait(driver, lambda drv: listen.is_displayed() and (a := drv.execute_script(live_sound, front))[0] > 0 and a[1] is False
             and a[2] > 0.5 and listen.text == "Silence", message="the reconnected live view forgot Listen")
        choice.select_by_value("auto")
        wait(driver, lambda drv: [r for r in api(d, "/api/recordings?kind=segment")["recordings"] if not r["writing"]], timeout=30,
             message="no finished segment")
        segment = [r for r in api(d, "/api/recordings?kind=segment")["recordings"] if not r["writing"]][0]
        # A recording and the timeline's playback, each in a <video>: the browser decodes their sound (muted: no speaker here).
        start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3))
        for src in [f"/recordings/{segment['path']}", f"/api/play?camera=front&start={start}"]:
            decoded = driver.execute_async_script("""
                const [src, done] = arguments;
                const v = document.createElement('video');
                v.muted = true; v.src = src; document.body.append(v);
                v.play().catch(() => {});
                const t0 = Date.now();
                (function poll() {
                  if (v.webkitAudioDecodedByteCount > 0 && v.currentTime > 0.5) done({audio: v.webkitAudioDecodedByteCount, at: v.currentTime});
                  else if (Date.now() - t0 > 10000) done({audio: v.webkitAudioDecodedByteCount, at: v.currentTime, error: v.error && v.error.message});
                  else setTimeout(poll, 100);
                })();""", src)
            assert decoded["audio"] > 0, (src, decoded)
    finally:
        driver.quit()
        assert d.stop() == 0
