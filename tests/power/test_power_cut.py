"""Power cuts through a real kernel and filesystem: the daemon records onto a virtio disk in the VM (tests/vm/run.sh)
and QEMU is killed at a random moment, so the guest loses its page cache as a car's Pi does when the ignition goes.
After each cut the disk is checked (fsck) and the daemon starts on it again; at the end every segment the daemon had
finished before a cut must be there, whole and signed, and nothing on the disk may verify as changed or broken.

BLACKBOX_POWER_CUTS (default 3) cuts per filesystem and BLACKBOX_POWER_FS (default "vfat ext4"; exfat too) make a longer
run than `make test` affords under software emulation."""
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


def record_until_cut(image, fs, pidfile, rng, log):
    """Boots, records, and kills QEMU between 0 and 5 s after the boot's first finished segment (4 s segments: the
    cut falls anywhere in the next segment, around its rename too). Returns the segments finished before the cut."""
    proc = boot(image, fs, "record", pidfile)
    finished, cut_at = [], None
    try:
        for line in lines_of(proc, lambda _: cut_at is not None and time.monotonic() >= cut_at):
            log.append(line)
            assert "MOUNT FAILED" not in line, "\n".join(log)
            if line.startswith("FINISHED "):
                finished.append(line.split(" ", 1)[1])
                if cut_at is None:
                    cut_at = time.monotonic() + rng.uniform(0, 5)
            if cut_at is not None and time.monotonic() >= cut_at:
                break
        assert finished, "no segment was finished before the cut:\n" + "\n".join(log[-40:])
        os.kill(int(pidfile.read_text()), signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    return finished


@pytest.mark.parametrize("fs", FILESYSTEMS)
def test_segments_finished_before_a_power_cut_survive_it(fs, tmp_path):
    image = tmp_path / f"{fs}.img"
    with open(image, "wb") as f:
        f.truncate(256 << 20)
    subprocess.run([*MKFS[fs], str(image)], check=True, capture_output=True, timeout=60)
    pidfile = tmp_path / "qemu.pid"
    rng = random.Random()
    log, finished = [], []
    for _ in range(CUTS):
        finished += record_until_cut(image, fs, pidfile, rng, log)

    proc = boot(image, fs, "check", pidfile)
    out = list(lines_of(proc, lambda _: False))
    proc.wait(timeout=60)
    text = "\n".join(out)
    assert "DAEMON 0" in out, text
    sizes = {m.group(1): int(m.group(2)) for m in (re.match(r"FILE (\S+) (\d+)$", line) for line in out) if m}
    verdicts = {m.group(2): m.group(1) for m in (re.match(r"VERIFY (\w+)\s+(\S+?):", line) for line in out) if m}
    # Every segment finished (renamed and synced) before a cut is still there, with its data, and verifies.
    lost = [path for path in finished if sizes.get(path, 0) == 0 or verdicts.get(path) != "INTACT"]
    assert not lost, f"{len(lost)} of {len(finished)} finished segments lost or damaged by the cuts: " \
                     f"{[(p, sizes.get(p), verdicts.get(p)) for p in lost]}\n{text}"
    # Files cut mid-write were repaired to their last whole fragment: nothing on the disk is changed or broken.
    assert set(verdicts.values()) <= {"INTACT", "CUT"}, text
    assert not [p for p, size in sizes.items() if p.endswith(".part")], "a .part was left after recovery:\n" + text
