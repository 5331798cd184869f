"""Power cuts through a real kernel and filesystem: the daemon records onto a virtio disk in the VM (tests/vm/run.sh)
and QEMU is killed at a random moment, so the guest loses its page cache as a car's Pi does when the ignition goes.
An event clip is asked for every 3 s and the clips' share of the quota is small (60 KB: about one clip of the test
pattern, 38-61 KB seen), so cuts also fall in clips being written and in loop-overwrite deletions.
After each cut the disk is checked (fsck) and the daemon starts on it again; at the end every segment and clip the
daemon had finished before a cut (and loop overwrite had not deleted) must be there, whole and signed, nothing on the
disk may verify as changed or broken, no file loop overwrite deleted before a cut (the last cut comes just after
one is reported) may be back, and the timeline's only holes are at the cuts, each losing at most the fragment
being written (1 s) before the cut.

BLACKBOX_POWER_CUTS (default 3) cuts per filesystem and BLACKBOX_POWER_FS (default "vfat ext4"; exfat too) make a longer
run than `make test` affords under software emulation."""
import json
import os
import pathlib
import random
import re
import select
import signal
import subprocess
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
RUN = ROOT / "tests" / "vm" / "run.sh"
CUTS = int(os.environ.get("BLACKBOX_POWER_CUTS", "3"))
FILESYSTEMS = os.environ.get("BLACKBOX_POWER_FS", "vfat ext4").split()
MKFS = {"vfat": ["mkfs.vfat", "-F", "32"], "exfat": ["mkfs.exfat"], "ext4": ["mkfs.ext4", "-q", "-F"]}


def boot(image, fs, mode, pidfile):
    """The VM running guest.sh in `mode` on `image`; its output is read line by line."""
    pidfile.unlink(missing_ok=True)
    binary = ["env", f"BLACKBOX_BIN={os.environ['BLACKBOX_BIN']}"] if "BLACKBOX_BIN" in os.environ else []
    return subprocess.Popen([str(RUN), "--timeout", "400", "--disk", str(image), "--pidfile", str(pidfile),
                             *binary, "bash", "tests/power/guest.sh", fs, mode],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def lines_of(proc, until):
    """Lines the VM prints until `until(line)` says stop or 300 s pass."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            line = proc.stdout.readline()
            if not line:
                return
            yield line.rstrip("\n")
        elif until(None):
            return


def record_until_cut(image, fs, pidfile, rng, log, after_delete=False):
    """Boots, records, and kills QEMU between 0 and 5 s after the boot has finished its first segment and its first
    event clip (4 s segments: the cut falls anywhere in the next segment, around its rename too); `after_delete`: as
    soon as loop overwrite has reported a deletion (a deletion reported is one a cut cannot undo: on FAT a folder not
    synced brought a deleted clip back, pointing at clusters the next file's sync had freed; a clip made just after a
    deletion synced the folder, a deletion by the start-up pass or the pass every 5 s not).
    Returns the files finished and deleted before the cut, and the guest's clock at the cut.

    The cut's time on the guest's clock is the host's time of the kill less the guest's offset, taken from the clock
    lines the guest prints twice a second: each line arrives some time after it was written, so the smallest
    difference of the last ten is the offset (plus the shortest delay). The last line itself is no measure: a guest
    busy syncing a FAT disk has printed it a second or more before the daemon's last fragment."""
    proc = boot(image, fs, "record", pidfile)
    finished, deleted, cut_at, offsets = [], [], None, []
    try:
        for line in lines_of(proc, lambda _: cut_at is not None and time.monotonic() >= cut_at):
            log.append(line)
            assert "MOUNT FAILED" not in line, "\n".join(log)
            if line.startswith("DAEMON EXITED"):
                rest = "".join(l + "\n" for l in lines_of(proc, lambda _: False))
                raise AssertionError("the daemon ended while recording:\n" + "\n".join(log[-20:]) + "\n" + rest)
            if line.startswith("NOW "):
                offsets = (offsets + [time.time() - float(line.split()[1])])[-10:]
            if line.startswith("DELETED "):
                deleted.append(line.split(" ", 1)[1])
                if after_delete and cut_at is None:
                    # One pass reports all its deletions together, once synced: the rest of it is read before the cut
                    # (a cut on its first line left a second one, done but unread, counted as lost).
                    for more in lines_of(proc, lambda _: True):
                        log.append(more)
                        if more.startswith("DELETED "):
                            deleted.append(more.split(" ", 1)[1])
                    cut_at = time.monotonic()
            if line.startswith("FINISHED "):
                finished.append(line.split(" ", 1)[1])
                # Every boot finishes an event clip before its cut, so that loop overwrite has clips to delete by the
                # second boot (the clips' share holds one): a slow FAT guest cut after its first segment alone had
                # saved one clip in three boots, and nothing was deleted.
                if not after_delete and cut_at is None and any("/events/" in p for p in finished) and any("/events/" not in p for p in finished):
                    cut_at = time.monotonic() + rng.uniform(0, 5)
            if cut_at is not None and time.monotonic() >= cut_at:
                break
        assert finished or after_delete, "no segment was finished before the cut:\n" + "\n".join(log[-40:])
        os.kill(int(pidfile.read_text()), signal.SIGKILL)
        killed = time.time()
    finally:
        proc.kill()
        proc.wait(timeout=30)
    return finished, deleted, (killed - min(offsets) if offsets else None)


def unreported_deletion(path, on_disk, deleted):
    """Whether `path`, gone after the cuts, may be a deletion loop overwrite made but had not reported when the power
    went (it reports a pass's deletions after syncing their folders). It must be wholly gone, loop overwrite must have
    been deleting its kind (segments or event clips of its camera), and as it deletes the oldest first, nothing of that
    kind older than it may be left on the disk."""
    def kind(p):
        return ("/events/" in p, pathlib.Path(p).parent.parent.name)
    name = pathlib.Path(path).name
    return path not in on_disk and any(kind(p) == kind(path) for p in deleted) and not any(
        kind(p) == kind(path) and p.endswith(".mp4") and pathlib.Path(p).name < name for p in on_disk)


@pytest.mark.parametrize("fs", FILESYSTEMS)
def test_segments_finished_before_a_power_cut_survive_it(fs, tmp_path):
    image = tmp_path / f"{fs}.img"
    with open(image, "wb") as f:
        f.truncate(256 << 20)
    subprocess.run([*MKFS[fs], str(image)], check=True, capture_output=True, timeout=60)
    pidfile = tmp_path / "qemu.pid"
    rng = random.Random()
    log, finished, deleted, cuts = [], [], set(), []
    for n in range(CUTS):
        done, gone, clock = record_until_cut(image, fs, pidfile, rng, log, after_delete=n == CUTS - 1)
        finished += done
        deleted |= set(gone)
        cuts.append(clock)
    at_start = cuts[-1]  # the cut just after a deletion

    proc = boot(image, fs, "check", pidfile)
    out = list(lines_of(proc, lambda _: False))
    proc.wait(timeout=60)
    text = "\n".join(out)
    assert "DAEMON 0" in out, text
    # A deletion loop overwrite reported before a cut stays done (the last cut comes just after one).
    on_disk = {line.split(" ")[1] for line in out if line.startswith("ONDISK ")}
    back = sorted(on_disk & deleted)
    assert not back, f"deleted by loop overwrite before a cut, but there after it: {back}\n{text}\n" + \
                     "\n".join(l for l in log if not l.startswith("NOW "))
    deleted |= {line.split(" ", 1)[1] for line in out if line.startswith("DELETED ")}
    sizes = {m.group(1): int(m.group(2)) for m in (re.match(r"FILE (\S+) (\d+)$", line) for line in out) if m}
    verdicts = {m.group(2): m.group(1) for m in (re.match(r"VERIFY (\w+)\s+(\S+?):", line) for line in out) if m}
    # Every segment and clip finished (renamed and synced) before a cut is still there, with its data, and verifies,
    # unless loop overwrite deleted it.
    assert any("/events/" in p for p in finished) and deleted, (finished, deleted)
    missing = [path for path in finished if path not in deleted and (sizes.get(path, 0) == 0 or verdicts.get(path) != "INTACT")]
    unreported = [path for path in missing if unreported_deletion(path, on_disk, deleted)]
    lost = [path for path in missing if path not in unreported]
    assert not lost, f"{len(lost)} of {len(finished)} finished segments lost or damaged by the cuts: " \
                     f"{[(p, sizes.get(p), verdicts.get(p)) for p in lost]}\n{text}\n" + "\n".join(l for l in log if not l.startswith("NOW "))
    # Files cut mid-write were repaired to their last whole fragment: nothing on the disk is changed or broken.
    assert set(verdicts.values()) <= {"INTACT", "CUT"}, text
    assert not [p for p, size in sizes.items() if p.endswith(".part")], "a .part was left after recovery:\n" + text
    # The timeline: a hole at each cut, losing at most the fragment being written before it (1 s, plus the time between
    # the fragment's last picture and its write), and no hole elsewhere in what loop overwrite kept.
    timeline = json.loads(next(line.split(" ", 1)[1] for line in out if line.startswith("TIMELINE ")))
    spans = timeline["spans"]
    holes = [(a["end"], b["start"]) for a, b in zip(spans, spans[1:])]
    for cut in cuts:
        if cut is None or cut < spans[0]["start"]:
            continue  # before what loop overwrite kept
        hole = next((h for h in holes if h[0] - 0.5 <= cut <= h[1] + 0.5), None)
        assert hole is not None, (f"no hole in the timeline at the cut at {cut}; spans within 30 s of it:",
                                  [s for s in spans if s["end"] > cut - 30 and s["start"] < cut + 30])
        # (A cut just after a deletion at start-up falls in the previous cut's hole or just after the first fragment.)
        assert cut == at_start or cut - hole[0] <= 2.0, f"{cut - hole[0]:.2f} s recorded before the cut at {cut} were lost: {holes}"
    assert all(any(a - 0.5 <= c <= b + 0.5 for c in cuts if c) for a, b in holes), (holes, cuts)
    print(f"{fs}: {CUTS} cuts, {len(finished)} files finished before them, {len(deleted)} deleted by loop overwrite, "
          f"{len(unreported)} deleted unreported at a cut, {len(sizes)} checked; lost before each cut: {[round(c - next(h[0] for h in holes if h[0] - 0.5 <= c <= h[1] + 0.5), 2) for c in cuts if c and c != at_start and c >= spans[0]['start']]} s (and one just after a deletion)")
