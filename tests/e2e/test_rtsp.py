"""RTSP out, on one host: ffmpeg (TCP and UDP) and GStreamer record the camera's H.264 at its size and rate; the
protocol as a client sees it (Basic and Digest, the SDP's parameter sets, the first frame, RTCP sender reports
in wall-clock time); one H.264 encoder however many RTSP, MSE and MJPEG viewers; pushing to ffmpeg's RTSP
listener, and again after the listener went away; bad settings refused; a stop within 2 s with clients."""
import json
import socket
import subprocess
import time
import urllib.request

import rtsp
from conftest import BINARY, Daemon
from test_live_h264 import Reader
from test_recording import post, wait_for
from helpers import free_port, h264_threads


def api_status(d):
    with urllib.request.urlopen(d.base + "/api/status", timeout=10) as r:
        return json.loads(r.read())


def url(d, path="front", password=None):
    return f"rtsp://admin:{password or d.password}@127.0.0.1:{d.rtsp_port}/{path}"


def probe(path):
    """(frames, width, height, frames per second from the timestamps) of a recording, and ffmpeg's decode errors."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height:frame=pts_time",
                          "-of", "json", str(path)], capture_output=True, text=True, timeout=120)
    info = json.loads(out.stdout)
    times = sorted(float(f["pts_time"]) for f in info.get("frames", []) if "pts_time" in f)
    stream = info["streams"][0]
    fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0
    decode = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True, text=True, timeout=120)
    return len(times), stream["width"], stream["height"], fps, decode.stderr.strip()


def ffmpeg_pull(address, transport, seconds, out):
    return subprocess.Popen(["ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", transport, "-timeout", "5000000", "-i", address,
                             "-t", str(seconds), "-c", "copy", "-y", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def gst_pull(address, user, password, seconds, out):
    # -e: EOS on SIGINT, so that the Matroska file is finished. buffer-mode=none: the file keeps the sender's RTP
    # timestamps (what this test checks), not arrival times smoothed by the jitter buffer, which clamps a time that
    # goes back to the one before: on a busy machine two frames then got the same millisecond ("12 >= 12" in CI).
    return subprocess.Popen(["timeout", "-s", "INT", str(seconds), "gst-launch-1.0", "-e", "-q", "rtspsrc", f"location={address}",
                             f"user-id={user}", f"user-pw={password}", "latency=0", "buffer-mode=none", "!", "rtph264depay", "!", "h264parse", "!",
                             "matroskamux", "!", "filesink", f"location={out}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_ffmpeg_and_gstreamer_record_the_stream_at_its_size_and_rate(tmp_path):
    d = Daemon("--camera", "front=testpattern:640x360@15", recordings=tmp_path / "rec")
    try:
        pulls = [ffmpeg_pull(url(d), "tcp", 10, tmp_path / "tcp.mkv"), ffmpeg_pull(url(d), "udp", 10, tmp_path / "udp.mkv"),
                 gst_pull(f"rtsp://127.0.0.1:{d.rtsp_port}/front", "admin", d.password, 11, tmp_path / "gst.mkv")]
        wait_for(lambda: api_status(d)["rtsp"]["streams"][0]["clients"] == 3, 10, "three RTSP clients")
        s = api_status(d)
        assert s["rtsp"]["listening"] and s["rtsp"]["auth"] == "basic+digest", s["rtsp"]
        kinds = [c["kind"] for c in s["cameras"][0]["liveStreams"]]
        assert kinds.count("rtsp") == 3, kinds
        # The camera records H.264: RTSP takes its frames, no second encoder.
        assert s["cameras"][0]["encoders"]["h264"] == 1 and s["cameras"][0]["h264"]["liveOnly"] is False
        for p in pulls:
            p.wait(30)
        for name in ["tcp.mkv", "udp.mkv", "gst.mkv"]:
            frames, width, height, fps, errors = probe(tmp_path / name)
            assert (width, height) == (640, 360) and errors == "", (name, errors)
            assert frames >= 9 * 15 and abs(fps - 15) <= 0.3, (name, frames, fps)
        wait_for(lambda: api_status(d)["rtsp"]["streams"][0]["clients"] == 0, 10, "the clients gone")
        assert api_status(d)["rtsp"]["streams"][0]["framesSent"] >= 140
    finally:
        assert d.stop() == 0


def test_the_protocol_offers_basic_and_digest_throttles_guessing_gives_a_keyframe_at_once_and_wall_clock_sender_reports(tmp_path):
    d = Daemon("--camera", "front=testpattern:640x360@15", "--camera", "rear=testpattern:320x240@15",
               recordings=tmp_path / "rec")
    try:
        for scheme in ["digest", "basic"]:
            c = rtsp.Client("127.0.0.1", d.rtsp_port, "rear", "admin", d.password, scheme)
            sdp = c.describe()
            assert "a=rtpmap:96 H264/90000" in sdp and "sprop-parameter-sets=" in sdp and "packetization-mode=1" in sdp, sdp
            c.close()
        # Wrong passwords from one address: refused; after three, that address is not even checked for 12 s (the right
        # password gets a 401 too), while another address logs in.
        for scheme in ["digest", "basic", "digest"]:
            c = rtsp.Client("127.0.0.1", d.rtsp_port, "front", "admin", "wrong-password", scheme, source="127.0.0.2")
            assert c.request("DESCRIBE")[0] == 401, scheme
            c.close()
        for scheme in ["digest", "basic"]:
            c = rtsp.Client("127.0.0.1", d.rtsp_port, "front", "admin", d.password, scheme, source="127.0.0.2")
            assert c.request("DESCRIBE")[0] == 401, scheme
            c.close()
            c = rtsp.Client("127.0.0.1", d.rtsp_port, "front", "admin", d.password, scheme, source="127.0.0.3")
            assert c.request("DESCRIBE")[0] == 200, scheme
            c.close()
        anonymous = rtsp.Client("127.0.0.1", d.rtsp_port, "front")
        status, headers, _ = anonymous.request("DESCRIBE")
        assert status == 401 and sorted(h.split()[0] for h in headers["www-authenticate"]) == ["Basic", "Digest"], headers
        assert anonymous.request("DESCRIBE", f"rtsp://127.0.0.1:{d.rtsp_port}/nope")[0] in (401, 404)
        anonymous.close()
        # ffmpeg with a wrong password is refused.
        wrong = subprocess.run(["ffprobe", "-v", "error", url(d, password="wrong-password")], capture_output=True, text=True, timeout=30)
        assert wrong.returncode != 0 and "401" in wrong.stderr, wrong.stderr

        # A joining client gets a keyframe at once (one a second), then sender reports whose NTP time is the wall clock.
        c = rtsp.Client("127.0.0.1", d.rtsp_port, "front", "admin", d.password)
        started = time.time()
        c.describe()
        c.play_tcp()
        first, reports, packets = None, [], 0
        for channel, payload, at in c.packets(7):
            if channel == 0:
                packets += 1
                if first is None and rtsp.starts_keyframe(payload):
                    first = at - started
            else:
                reports += [(ntp, at) for ntp, _ in rtsp.sender_reports(payload)]
        c.close()
        assert first is not None and first < 1.5, first
        assert packets >= 90 and reports, (packets, reports)
        assert all(abs(ntp - at) < 1.0 for ntp, at in reports), reports
    finally:
        assert d.stop() == 0


def test_the_live_view_can_be_public_for_rtsp_too(tmp_path):
    d = Daemon("--camera", "front=testpattern:320x240@15", "--public-live", recordings=tmp_path / "rec")
    try:
        c = rtsp.Client("127.0.0.1", d.rtsp_port, "front")
        assert "sprop-parameter-sets=" in c.describe()
        c.close()
        assert api_status(d)["rtsp"]["auth"] == "none"
    finally:
        assert d.stop() == 0


def test_an_mjpeg_camera_runs_one_h264_encoder_for_rtsp_mse_and_nothing_more(tmp_path):
    d = Daemon("--camera", "front=testpattern:640x360@15", "--codec", "mjpeg", "--workers", "2", recordings=tmp_path / "rec")
    try:
        assert api_status(d)["cameras"][0]["encoders"] == {"jpeg": 2, "h264": 0} and h264_threads(d) == 0
        pulls = [ffmpeg_pull(url(d), "tcp", 8, tmp_path / "r0.mkv")]
        wait_for(lambda: api_status(d)["cameras"][0]["encoders"]["h264"] == 1, 10, "the live-only encoder")
        one_encoder = h264_threads(d)  # counted by the kernel, not by the daemon
        pulls.append(ffmpeg_pull(url(d), "tcp", 8, tmp_path / "r1.mkv"))
        readers = [Reader(d.base + "/stream.mp4", 8), Reader(d.base + "/stream", 8)]
        for r in readers:
            r.start()
        wait_for(lambda: len(api_status(d)["cameras"][0]["liveStreams"]) == 4, 10, "two RTSP, one MSE and one MJPEG client")
        camera = api_status(d)["cameras"][0]
        assert camera["encoders"] == {"jpeg": 2, "h264": 1} and camera["h264"]["liveOnly"] is True, camera["encoders"]
        assert one_encoder >= 1 and h264_threads(d) == one_encoder, "a second H.264 encoder started for more clients"
        for p in pulls:
            p.wait(30)
        for r in readers:
            r.join(15)
        for i in range(2):
            frames, width, height, _, errors = probe(tmp_path / f"r{i}.mkv")
            assert (width, height) == (640, 360) and frames >= 7 * 15 and errors == "", (frames, errors)
        # What the clients received in 8 s: the RTSP client's stream (as ffmpeg kept it) and the MSE reader's bytes
        # are a fraction of the MJPEG reader's.
        mjpeg = len(readers[1].data)
        assert mjpeg > 8 * 15 * 5_000, f"{mjpeg} MJPEG bytes in 8 s"
        assert 0 < (tmp_path / "r0.mkv").stat().st_size < 0.5 * mjpeg and 0 < len(readers[0].data) < 0.5 * mjpeg
        wait_for(lambda: api_status(d)["cameras"][0]["encoders"]["h264"] == 0, 15, "the live-only encoder stopped")
        wait_for(lambda: h264_threads(d) == 0, 10, "the encoder's threads gone")
        assert api_status(d)["rtsp"]["streams"][0]["active"] is False
        assert api_status(d)["cameras"][0]["recording"]["droppedFrames"] == 0
    finally:
        assert d.stop() == 0


def test_push_reaches_an_ffmpeg_listener_and_comes_back_after_it_was_gone(tmp_path):
    port = free_port()
    target = f"rtsp://127.0.0.1:{port}/front"

    def listener(out, seconds):
        return subprocess.Popen(["ffmpeg", "-nostdin", "-v", "error", "-rtsp_flags", "listen", "-timeout", "30", "-i", target, "-t", str(seconds),
                                 "-c", "copy", "-y", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    first = listener(tmp_path / "push1.mkv", 5)
    d = Daemon("--camera", "front=testpattern:640x360@15", "--rtsp-publish", target, recordings=tmp_path / "rec")
    try:
        first.wait(40)
        frames, width, height, fps, errors = probe(tmp_path / "push1.mkv")
        assert (width, height) == (640, 360) and frames >= 4 * 15 and errors == "", (frames, errors)
        assert abs(fps - 15) <= 0.5, fps
        # The listener is gone: the daemon retries with backoff and says so.
        wait_for(lambda: api_status(d)["rtsp"]["publish"][0]["failures"] >= 1, 20, "a failed push counted")
        p = api_status(d)["rtsp"]["publish"][0]
        assert p["state"] in ("retrying", "connecting") and p["lastError"] and p["url"] == target, p
        second = listener(tmp_path / "push2.mkv", 4)
        second.wait(60)
        frames, _, _, _, errors = probe(tmp_path / "push2.mkv")
        assert frames >= 3 * 15 and errors == "", (frames, errors)
        # Recording went on in H.264 all along.
        assert api_status(d)["cameras"][0]["recording"]["droppedFrames"] == 0
    finally:
        assert d.stop() == 0
        first.kill()


def test_rtsp_settings_are_checked_with_what_is_allowed(tmp_path):
    cases = [
        (["--rtsp-port", "70000"], "out of range; allowed: 1 to 65535"),
        (["--camera", "a=testpattern", "--camera", "b=testpattern", "--rtsp-publish", "rtsp://central:8554/cam"], "needs {path} or {camera}"),
        (["--rtsp-publish", "http://central/cam"], "is not an RTSP address"),
    ]
    for args, message in cases:
        out = subprocess.run([BINARY, "run", "--recordings",
                              str(tmp_path / "r"), *args], capture_output=True, text=True, timeout=30)
        assert out.returncode != 0 and message in out.stderr, (args, out.stderr)
    for text, message in [
        ('[[camera]]\nid = "front"\nrtsp_path = "/bad path"\n', "rtsp_path = \"/bad path\": not a usable path"),
        ('[[camera]]\nid = "a"\nrtsp_path = "x"\n[[camera]]\nid = "b"\nrtsp_path = "x"\n', "both have the RTSP path 'x'"),
        ('[rtsp]\nport = 70000\n', "port = 70000: out of range; allowed: 1 to 65535, or 0 for any free port"),
        ('[rtsp]\nstream = "x"\n', "[rtsp] stream"),
    ]:
        config = tmp_path / "blackbox.toml"
        config.write_text(text)
        out = subprocess.run([BINARY, "run", "--config", str(config), "--recordings", str(tmp_path / "r")],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode != 0 and message in out.stderr, (text, out.stderr)


def test_a_busy_rtsp_port_leaves_recording_and_the_web_server_running(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        d = Daemon("--camera", "front=testpattern:320x240@15", "--rtsp-port", str(port), recordings=tmp_path / "rec")
        try:
            r = api_status(d)["rtsp"]
            assert r["listening"] is False and str(port) in r["error"], r
            wait_for(lambda: api_status(d)["cameras"][0]["recording"]["framesWritten"] > 15, 10, "recording")
        finally:
            assert d.stop() == 0


def test_sigterm_with_rtsp_clients_stops_within_two_seconds(tmp_path):
    d = Daemon("--camera", "front=testpattern:640x360@15", recordings=tmp_path / "rec")
    pulls = [ffmpeg_pull(url(d), transport, 60, tmp_path / f"{transport}.mkv") for transport in ["tcp", "udp"]]
    try:
        wait_for(lambda: api_status(d)["rtsp"]["streams"][0]["clients"] == 2, 10, "two RTSP clients")
        code, took = d.terminate_timed()
        assert code == 0 and took < 2.0, f"exit {code} after {took:.2f} s"
    finally:
        assert d.stop() == 0
        for p in pulls:
            p.kill()
            p.wait()


def test_a_flood_of_rtsp_connections_is_capped_and_recording_goes_on(tmp_path):
    d = Daemon("--camera", "front=testpattern:320x240@15", recordings=tmp_path / "rec")
    flood = []
    try:
        for _ in range(70):
            flood.append(socket.create_connection(("127.0.0.1", d.rtsp_port), timeout=10))
        wait_for(lambda: api_status(d)["rtsp"]["refusedConnections"] >= 6, 10, "connections over 64 refused")
        r = api_status(d)["rtsp"]
        assert r["connections"] == 64, r
        # The ones over the cap were closed by the server: they read end-of-stream.
        closed = 0
        for s in flood[64:]:
            s.settimeout(5)
            closed += s.recv(1) == b""
        assert closed == 6
        before = api_status(d)["cameras"][0]["recording"]["framesWritten"]
        wait_for(lambda: api_status(d)["cameras"][0]["recording"]["framesWritten"] >= before + 15, 10, "recording while flooded")
        for s in flood:
            s.close()
        flood = []
        wait_for(lambda: api_status(d)["rtsp"]["connections"] == 0, 10, "the flood's connections gone")
        c = rtsp.Client("127.0.0.1", d.rtsp_port, "front", "admin", d.password)
        assert "sprop-parameter-sets=" in c.describe()
        c.close()
    finally:
        for s in flood:
            s.close()
        assert d.stop() == 0


def test_switching_to_h264_while_an_rtsp_client_watches_keeps_its_one_encoder(tmp_path):
    d = Daemon("--camera", "front=testpattern:320x240@15", recordings=tmp_path / "rec")  # records MJPEG
    pull = ffmpeg_pull(url(d), "tcp", 8, tmp_path / "switch.mkv")
    try:
        wait_for(lambda: api_status(d)["cameras"][0]["encoders"]["h264"] == 1, 10, "the live-only encoder")
        one_encoder = h264_threads(d)
        assert one_encoder >= 1
        code, _ = post(d, "/api/cameras/front/settings", {"codec": "h264"})
        assert code == 200
        camera = api_status(d)["cameras"][0]
        assert camera["codec"] == "h264" and camera["h264"]["liveOnly"] is False and h264_threads(d) == one_encoder, camera["encoders"]
        pull.wait(30)
        frames, _, _, _, errors = probe(tmp_path / "switch.mkv")
        assert frames >= 7 * 15 and errors == "", (frames, errors)
        # The client gone, the encoder stays: the camera records H.264 now.
        wait_for(lambda: api_status(d)["rtsp"]["streams"][0]["active"] is False, 10, "the RTSP stream idle")
        assert api_status(d)["cameras"][0]["encoders"]["h264"] == 1 and h264_threads(d) == one_encoder
    finally:
        pull.kill()
        assert d.stop() == 0
