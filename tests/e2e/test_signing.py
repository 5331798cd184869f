"""Signed, hash-chained recordings (docs/SIGNING.md): every way of tampering is reported as what it is,
naming the fragment, by the daemon's verifier and by the independent script; a power cut is not
tampering; exports verify on their own; the private key stays private."""
import json
import pathlib
import shutil
import signal
import stat
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from conftest import BINARY, Daemon
from test_recording import decodes_cleanly, finished
from helpers import camera_status, post, wait_for

TOOLS = pathlib.Path(__file__).resolve().parents[2] / "tools"
sys.path.insert(0, str(TOOLS))
import verify_signatures as independent  # noqa: E402

SCRIPT = TOOLS / "verify_signatures.py"


# ---------------------------------------------------------------- the two verifiers

def ours(*paths, key=None):
    """(exit code, output) of `blackbox recordings verify --signatures`."""
    args = [BINARY, "recordings", "verify", "--signatures", *(["--key", str(key)] if key else []), *map(str, paths)]
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout + r.stderr


def theirs(*paths, key):
    """(exit code, output) of the independent Python verifier."""
    r = subprocess.run([sys.executable, str(SCRIPT), "--key", str(key), *map(str, paths)], capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout + r.stderr


def export_key(recordings):
    """The recorder's public key as a PEM file, by `blackbox key --export`."""
    pem = recordings / "recorder.pem"
    r = subprocess.run([BINARY, "key", "--recordings", str(recordings), "--export", str(pem)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return pem


def verdicts(output):
    """{file name: verdict} from either verifier's output."""
    out = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("INTACT", "CUT", "RETIMED", "BROKEN", "CHANGED", "OTHER-KEY", "UNSIGNED"):
            out[pathlib.Path(parts[1].rstrip(":")).name] = parts[0]
    return out


# ---------------------------------------------------------------- MP4 surgery (fault injection on copies)

def top_boxes(data):
    return [(kind, start, end) for kind, _, end, start in independent.boxes(data, 0, len(data))]


def fragment_ranges(data):
    """Per fragment: {moof, mdat, link}: (start, end) of each box."""
    out = []
    for kind, start, end in top_boxes(data):
        if kind == "moof":
            out.append({"moof": (start, end)})
        elif kind == "mdat":
            out[-1]["mdat"] = (start, end)
        elif kind == "uuid" and data[start + 8:start + 24] == independent.SIGNATURE_UUID:
            out[-1]["link"] = (start, end)
    return out


def whole(fragment):
    return fragment["moof"][0], fragment.get("link", fragment["mdat"])[1]


def flip_sample_byte(data, n):
    start, end = fragment_ranges(data)[n - 1]["mdat"]
    b = bytearray(data)
    b[(start + 8 + end) // 2] ^= 0x01
    return bytes(b)


def change_sample_duration(data, n):
    start, end = fragment_ranges(data)[n - 1]["moof"]
    b = bytearray(data)
    at = bytes(b).find(b"trun", start, end) + 4  # the trun's body
    flags = struct.unpack(">I", b[at:at + 4])[0] & 0xFFFFFF
    first = at + 8 + (4 if flags & 0x1 else 0) + (4 if flags & 0x4 else 0)
    duration = struct.unpack(">I", b[first:first + 4])[0]
    b[first:first + 4] = struct.pack(">I", duration + 3000)
    return bytes(b)


def drop_fragment(data, n):
    start, end = whole(fragment_ranges(data)[n - 1])
    return data[:start] + data[end:]


def swap_fragments(data, a, b):
    fa, fb = (whole(f) for f in (fragment_ranges(data)[a - 1], fragment_ranges(data)[b - 1]))
    return data[:fa[0]] + data[fb[0]:fb[1]] + data[fa[1]:fb[0]] + data[fa[0]:fa[1]] + data[fb[1]:]


def splice(first, second, keep):
    """`first`'s init and its first `keep` fragments, then every fragment of `second`."""
    cut = whole(fragment_ranges(first)[keep - 1])[1]
    begin = whole(fragment_ranges(second)[0])[0]
    return first[:cut] + second[begin:]


def retime(data, seconds):
    b = bytearray(data)
    at = bytes(b).find(b"mvhd") + 4
    assert b[at] == 1, "version 1 mvhd"
    for field in (at + 4, at + 12):  # creation and modification time
        b[field:field + 8] = struct.pack(">Q", struct.unpack(">Q", b[field:field + 8])[0] + seconds)
    return bytes(b)


def strip_links(data):
    out = data
    for f in reversed(fragment_ranges(data)):
        start, end = f["link"]
        out = out[:start] + out[end:]
    return out


def resign(data, key):
    """Every link signed again by `key` (same chain values): what a forger with another key can do."""
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    b = bytearray(data)
    for f in fragment_ranges(data):
        start, end = f["link"]
        link = independent.parse_link(bytes(b[start + 24:end]))
        b[end - 96:end] = raw + key.sign(link["chain"])
    return bytes(b)


# ---------------------------------------------------------------- recordings to work on

@pytest.fixture(scope="module", params=["h264", "mjpeg"])
def signed(request, tmp_path_factory):
    """Four or more 2 s segments (0.5 s fragments) of one camera, and the recorder's exported public key."""
    root = tmp_path_factory.mktemp(f"signed-{request.param}")
    d = Daemon("--camera", "front=testpattern:320x240@30", "--codec", request.param, "--segment-seconds", "2",
               "--fragment-seconds", "0.5", "--event-pre", "1", "--event-post", "1", recordings=root)
    wait_for(lambda: len(finished(root)) >= 4, 40, "four segments")
    assert d.stop() == 0
    return request.param, root, export_key(root)


def test_recordings_are_signed_intact_in_one_chain_and_still_play_everywhere(signed):
    codec, root, pem = signed
    segments = finished(root)
    code, out = ours(*segments, key=pem)
    assert code == 0, out
    assert set(verdicts(out).values()) == {"INTACT"} and len(verdicts(out)) == len(segments), out
    assert "0 chain problems" in out
    code, out2 = theirs(*segments, key=pem)
    assert code == 0 and set(verdicts(out2).values()) == {"INTACT"}, out2
    # One chain across the files: each file's first index follows the previous file's last.
    indexes = [int(line.split(" from index ")[1]) for line in out.splitlines() if " from index " in line]
    counts = [len(fragment_ranges(p.read_bytes())) for p in segments]
    assert indexes == [indexes[0] + sum(counts[:i]) for i in range(len(segments))], (indexes, counts)
    import cv2
    for path in segments:
        assert decodes_cleanly(path), path.name
        capture = cv2.VideoCapture(str(path))
        frames = 0
        while capture.read()[0]:
            frames += 1
        # Full segments are 2 s of 30 fps; the last one ended when the daemon stopped.
        assert frames >= (50 if path != segments[-1] else 1), f"OpenCV read {frames} frames of {path.name}"


TAMPERINGS = {
    # name: (how, verdict, words both verifiers must say)
    "flipped sample byte": (lambda data, other, key: flip_sample_byte(data, 2), "CHANGED", "fragment 2: sample data changed"),
    "changed duration": (lambda data, other, key: change_sample_duration(data, 3), "CHANGED", "fragment 3: sample timing"),
    "dropped fragment": (lambda data, other, key: drop_fragment(data, 2), "BROKEN", "missing before fragment 2"),
    "swapped fragments": (lambda data, other, key: swap_fragments(data, 2, 3), "BROKEN", "fragment 3 is out of order"),
    "spliced files": (lambda data, other, key: splice(data, other, 2), "BROKEN", "missing before fragment 3"),
    "re-timed": (lambda data, other, key: retime(data, 3600), "RETIMED", "re-timed"),
    "signatures stripped": (lambda data, other, key: strip_links(data), "UNSIGNED", "not signed"),
    "signed by another key": (lambda data, other, key: resign(data, key), "OTHER-KEY", "fragment 1 is signed by another key"),
}


@pytest.mark.parametrize("tampering", list(TAMPERINGS))
def test_each_tampering_is_reported_as_what_it_is_by_both_verifiers(signed, tampering, tmp_path):
    codec, root, pem = signed
    segments = finished(root)
    how, verdict, words = TAMPERINGS[tampering]
    original, other = segments[1].read_bytes(), segments[3].read_bytes()
    assert len(fragment_ranges(original)) >= 4
    copy = tmp_path / f"tampered-{segments[1].name}"
    copy.write_bytes(how(original, other, Ed25519PrivateKey.generate()))
    for name, (code, out) in {"blackbox": ours(copy, key=pem), "independent": theirs(copy, key=pem)}.items():
        assert code == 1, f"{name} accepted the {tampering} file:\n{out}"
        assert verdicts(out) == {copy.name: verdict}, f"{name}:\n{out}"
        assert words in out, f"{name} did not say '{words}':\n{out}"
    # The untouched original still verifies.
    assert ours(segments[1], key=pem)[0] == 0


def test_a_file_missing_in_the_middle_of_the_chain_is_reported_but_the_oldest_may_go(signed, tmp_path):
    codec, root, pem = signed
    segments = finished(root)
    # Loop overwrite deletes the oldest: the rest is still one unbroken chain.
    code, out = ours(*segments[1:], key=pem)
    assert code == 0 and "0 chain problems" in out, out
    # One deleted from the middle is a hole between its neighbours.
    code, out = ours(segments[0], *segments[2:], key=pem)
    assert code == 1, out
    assert "fragments missing between" in out and segments[0].name in out and segments[2].name in out, out


def test_an_exported_span_verifies_on_its_own(signed, tmp_path):
    codec, root, pem = signed
    segments = finished(root)
    # From the middle of the first segment to the middle of the third: three files, cut at fragments.
    starts = [independent.parse_link(p.read_bytes()[slice(*fragment_ranges(p.read_bytes())[0]["link"])][24:])["wall_ns"] / 1e9
              for p in segments[:3]]
    begin, end = starts[0] + 1.0, starts[2] + 1.0
    iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"
    out_file = tmp_path / "export.mp4"
    r = subprocess.run([BINARY, "recordings", "export", "--recordings", str(root), "--camera", "front", "--start", iso(begin),
                        "--end", iso(end), "--output", str(out_file)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "from 3 files" in r.stdout, r.stdout
    # Copied elsewhere, with no recordings and no device key beside it.
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(out_file, alone / "export.mp4")
    for code, out in (ours(alone / "export.mp4", key=pem), theirs(alone / "export.mp4", key=pem)):
        assert code == 0 and verdicts(out) == {"export.mp4": "INTACT"}, out
    assert decodes_cleanly(alone / "export.mp4")
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(alone / "export.mp4")],
                           capture_output=True, text=True, timeout=60)
    # Whole fragments of 0.5 s: the export covers the span and at most a fragment more at each end.
    assert end - begin - 0.01 <= float(probe.stdout) <= end - begin + 1.0 + 0.05, probe.stdout
    # Tampering with the export is caught too.
    (alone / "bad.mp4").write_bytes(flip_sample_byte((alone / "export.mp4").read_bytes(), 3))
    code, out = theirs(alone / "bad.mp4", key=pem)
    assert code == 1 and "fragment 3: sample data changed" in out, out


def test_export_refuses_bad_times_with_the_format(signed):
    codec, root, pem = signed
    for args, words in [(["--start", "yesterday", "--end", "2026-11-25T10:00:00Z"], "is not a time; allowed: RFC 3339"),
                        (["--start", "2026-11-25T10:00:00Z", "--end", "2026-11-25T09:00:00Z"], "must be after"),
                        (["--start", "2001-01-01T10:00:00Z", "--end", "2001-01-01T10:01:00Z"], "no recording between")]:
        r = subprocess.run([BINARY, "recordings", "export", "--recordings", str(root), "--camera", "front", *args],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0 and words in r.stderr, r.stderr


def test_a_power_cut_is_not_tampering_and_the_chain_runs_across_the_restart(tmp_path):
    args = ("--camera", "front=testpattern:320x240@30", "--codec", "h264", "--segment-seconds", "60", "--fragment-seconds", "0.5")
    d = Daemon(*args, recordings=tmp_path)
    wait_for(lambda: any(len(fragment_ranges(p.read_bytes())) >= 4 for p in tmp_path.rglob("*.part")), 30, "a segment with four fragments")
    d.stop(signal.SIGKILL)
    part = next(tmp_path.rglob("*.mp4.part"))
    # A tail as a power cut leaves it: half of a fragment written after the last whole one.
    data = part.read_bytes()
    last = fragment_ranges(data)[-1]
    part.write_bytes(data + data[last["moof"][0]:(last["moof"][0] + last["mdat"][1]) // 2])
    pem = export_key(tmp_path)
    code, out = ours(part, key=pem)
    assert code == 0 and verdicts(out) == {part.name: "CUT"} and "cut by a power loss" in out, out
    code, out = theirs(part, key=pem)
    assert code == 0 and verdicts(out) == {part.name: "CUT"}, out
    # The next start recovers the file; recording goes on in the same chain.
    d = Daemon(*args, recordings=tmp_path)
    wait_for(lambda: camera_status(d)["recording"]["framesWritten"] >= 30, 20, "two fragments after the restart")
    assert d.stop() == 0
    files = finished(tmp_path)
    assert len(files) == 2, files
    code, out = ours(*files, key=pem)
    assert code == 0 and set(verdicts(out).values()) == {"INTACT"} and "0 chain problems" in out, out
    first, second = (independent.read_file(str(p))[1] for p in files)
    assert independent.parse_link(second[0]["link"])["previous"] == independent.parse_link(first[-1]["link"])["chain"]


def test_an_event_clip_is_a_chain_of_its_own(tmp_path):
    d = Daemon("--camera", "front=testpattern:320x240@30", "--codec", "h264", "--segment-seconds", "2",
               "--event-pre", "1", "--event-post", "1", recordings=tmp_path)
    wait_for(lambda: camera_status(d)["recording"]["framesWritten"] >= 45, 20, "a whole second of pre-roll")
    code, answer = post(d, "/api/events", {"reason": "signed clip"})
    clip = tmp_path / answer["events"][0]["file"]
    wait_for(clip.exists, 20, "the clip")
    listed = json.loads(urllib.request.urlopen(d.base + "/api/recordings?kind=event", timeout=10).read())["recordings"]
    assert listed[0]["signature"] == "intact", listed
    full = json.loads(urllib.request.urlopen(d.base + "/api/recordings/verify?path=" + answer["events"][0]["file"], timeout=30).read())
    assert full["verdict"] == "intact" and full["chain"] == "front/event/" + clip.name[:-4], full
    assert d.stop() == 0
    code, out = ours(clip, key=export_key(tmp_path))
    assert code == 0 and "chain 'front/event/" in out and "from index 0" in out, out


def test_the_private_key_stays_private(tmp_path):
    d = Daemon("--camera", "front=testpattern:320x240@30", recordings=tmp_path)
    try:
        key_file = tmp_path / ".blackbox" / "device-key.toml"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
        seed = key_file.read_text().split('ed25519_seed = "')[1].split('"')[0]
        # What the API shows is the public half, the same as `blackbox key`.
        shown = json.loads(urllib.request.urlopen(d.base + "/api/device-key", timeout=10).read())
        r = subprocess.run([BINARY, "key", "--recordings", str(tmp_path)], capture_output=True, text=True, timeout=30)
        assert shown["fingerprint"] in r.stdout and shown["publicKey"] in r.stdout and shown["algorithm"] == "Ed25519"
        assert seed not in json.dumps(shown)
        for target in ["/recordings/.blackbox/device-key.toml", "/recordings/%2Eblackbox/device-key.toml",
                       "/recordings/front/../.blackbox/device-key.toml", "/recordings/front/%2e%2e/.blackbox/device-key.toml",
                       "/recordings/.blackbox/device-key.toml%00.mp4", "/recordings/..%2F.blackbox%2Fdevice-key.toml",
                       "/ui/../recordings/.blackbox/device-key.toml", "/api/recordings/verify?path=.blackbox/device-key.toml",
                       "/api/recordings/verify?path=../" + tmp_path.name + "/.blackbox/device-key.toml"]:
            try:
                with urllib.request.urlopen(d.base + target, timeout=10) as resp:
                    body = resp.read().decode(errors="replace")
                    status = resp.status
            except urllib.error.HTTPError as e:
                body, status = e.read().decode(errors="replace"), e.code
            assert status in (400, 404), (target, status)
            assert seed not in body, target
        for path in ["/api/status", "/api/recordings", "/metrics", "/api/openapi.json"]:
            assert seed not in urllib.request.urlopen(d.base + path, timeout=10).read().decode(), path
    finally:
        assert d.stop() == 0
    # Nor in what the daemon logged.
    assert seed not in d.output() + d.log()
    doctor = subprocess.run([BINARY, "doctor", "--recordings", str(tmp_path), "--port", "1"], capture_output=True, text=True, timeout=60)
    assert shown["fingerprint"] in doctor.stdout, doctor.stdout


def test_verify_api_names_what_is_wrong(tmp_path):
    d = Daemon("--camera", "front=testpattern:320x240@30", "--segment-seconds", "2", "--fragment-seconds", "0.5", recordings=tmp_path)
    try:
        wait_for(lambda: len(finished(tmp_path)) >= 2, 30, "two segments")
        good = finished(tmp_path)[0]
        relative = str(good.relative_to(tmp_path))
        bad = good.with_name("tampered_front.mp4")
        bad.write_bytes(flip_sample_byte(good.read_bytes(), 2))
        answer = json.loads(urllib.request.urlopen(d.base + "/api/recordings/verify?path=" + relative, timeout=30).read())
        assert answer["verdict"] == "intact" and answer["findings"] == [] and answer["signer"] == answer["expectedSigner"]
        answer = json.loads(urllib.request.urlopen(d.base + "/api/recordings/verify?path=" + str(bad.relative_to(tmp_path)), timeout=30).read())
        assert answer["verdict"] == "changed" and "fragment 2: sample data changed since signing" in answer["findings"], answer
        listed = {r["path"]: r["signature"] for r in json.loads(urllib.request.urlopen(d.base + "/api/recordings", timeout=10).read())["recordings"]}
        assert listed[relative] == "intact"
        for query, status, words in [("", 400, "give ?path="), ("?path=" + relative + "&x=1", 400, "allowed: path"),
                                     ("?path=front/nope.mp4", 404, "no recording")]:
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(d.base + "/api/recordings/verify" + query, timeout=10)
            assert e.value.code == status and words in e.value.read().decode(), query
    finally:
        assert d.stop() == 0
