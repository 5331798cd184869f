"""The Debian package on a clean Debian 12, booted with systemd as its init (issue 28).

A minimal Debian 12 root is made with debootstrap (cached under .build-vm, keyed by this file); `apt install
./blackbox_*.deb` runs in it (chrooted, so that apt fetches the libraries from Debian as on a user's machine); the
test changes the configuration there, as an owner would, and writes the root to an ext4 disk image. The VM then boots
that disk with systemd as its init (tests/vm/run.sh --boot), where check.sh runs as a unit: no Swift library is
there; the service the package enabled reaches READY, serves /healthz and records the test pattern; a newer build
installed over it keeps the configuration and the recordings and restarts the service; remove keeps the configuration,
purge removes it and the account, and neither touches recordings.

The package holds the debug build with the Swift runtime linked in statically (BLACKBOX_DEB_CONFIG=debug, the build the
other tests run): `make deb`'s release build takes 13 minutes here, and what is checked — the package's files,
maintainer scripts, dependencies and the static runtime — is the same. The newer build is that package with a higher
version (its binary is the same)."""
import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
MIRROR = os.environ.get("BLACKBOX_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SUDO = [] if os.geteuid() == 0 else ["sudo"]


def run(*args, **kw):
    """Runs a command, showing it; its output goes to the test's log."""
    print("+", " ".join(map(str, args)), flush=True)
    return subprocess.run([*SUDO, *map(str, args)], check=True, **kw)


DEBOOTSTRAP = ["--variant=minbase", "--include=systemd,systemd-sysv,dbus,curl,ca-certificates", "bookworm"]


def debian_root():
    """A pristine minimal Debian 12 with systemd and curl, made once and kept (keyed by how it is made)."""
    key = hashlib.sha256(" ".join([*DEBOOTSTRAP, MIRROR]).encode()).hexdigest()[:12]
    cache = ROOT / ".build-vm" / f"debian-{key}"
    if not (cache / "done").exists():
        if cache.exists():
            run("rm", "-rf", cache)
        cache.mkdir(parents=True)
        run("debootstrap", *DEBOOTSTRAP, cache / "root", MIRROR, stdout=subprocess.DEVNULL)
        (cache / "done").touch()
    return cache / "root"


def build_packages(work):
    """The package (scripts/make-deb.sh) and the same package as a newer version."""
    env = {**os.environ, "BLACKBOX_DEB_CONFIG": "debug", "BLACKBOX_DEB_OUT": str(work)}
    made = subprocess.run([ROOT / "scripts" / "make-deb.sh"], env=env, capture_output=True, text=True)
    print(made.stdout)
    assert made.returncode == 0, f"make-deb.sh failed ({made.returncode}):\n" + "\n".join(made.stderr.splitlines()[-40:])
    deb = next(work.glob("blackbox_*.deb"))
    unpacked = work / "unpacked"
    subprocess.run(["dpkg-deb", "-R", deb, unpacked], check=True)
    # libcamerasrc 0.0.3's request race is mended only while the program exports its own two functions
    # (Sources/LibcameraHold/request_order.cpp): the package's link must keep them.
    exported = subprocess.run(["nm", "-D", "--defined-only", unpacked / "usr" / "bin" / "blackbox"], check=True, capture_output=True,
                              text=True).stdout
    for symbol in ("_ZN9libcamera6Camera12queueRequestEPNS_7RequestE", "_ZN20GstLibcameraSrcState12queueRequestEv"):
        assert f" T {symbol}\n" in exported, f"{symbol} is not exported by the packaged program"
    control = unpacked / "DEBIAN" / "control"
    version = re.search(r"^Version: (.*)$", control.read_text(), re.M).group(1)
    control.write_text(control.read_text().replace(f"Version: {version}", f"Version: {version}+1"))
    upgrade = work / "upgrade.deb"
    subprocess.run(["fakeroot", "dpkg-deb", "--build", "-Zgzip", "-z1", unpacked, upgrade], check=True, stdout=subprocess.DEVNULL)
    return deb, upgrade, version


def test_the_package_installs_runs_upgrades_and_purges_on_a_clean_debian(tmp_path):
    pristine = debian_root()
    deb, upgrade, version = build_packages(tmp_path)
    root = tmp_path / "root"
    run("cp", "-a", pristine, root)
    try:
        # apt in the clean root, as a user runs it: the libraries come from Debian.
        shutil.copy(deb, root / "tmp" / deb.name)
        shutil.copy("/etc/resolv.conf", root / "etc" / "resolv.conf")
        run("mount", "-t", "proc", "proc", root / "proc")
        try:
            run("chroot", root, "apt-get", "update", "-q", stdout=subprocess.DEVNULL)
            run("chroot", root, "sh", "-c", f"cd /tmp && DEBIAN_FRONTEND=noninteractive apt-get install -y -q ./{deb.name}",
                stdout=subprocess.DEVNULL)
            run("chroot", root, "apt-get", "clean")
        finally:
            run("umount", root / "proc")
        installed = subprocess.run([*SUDO, "chroot", root, "dpkg-query", "-W", "-f=${Version} ${Status}", "blackbox"],
                                   check=True, capture_output=True, text=True).stdout
        assert installed == f"{version} install ok installed", installed
        # Nothing was started in the chroot; the package enabled the service for the boot.
        assert (root / "etc/systemd/system/multi-user.target.wants/blackbox.service").is_symlink()
        # The owner's change: a small picture, so that x264 under software emulation keeps up.
        config = root / "etc/blackbox/blackbox.toml"
        text = config.read_text()
        changed = re.sub(r'^size = "[^"]*"', 'size = "320x240@5"', text, count=1, flags=re.M)
        assert changed != text
        config.write_text(changed)
        # The check runs as a unit once the system is up; the serial console stays quiet without a login prompt.
        units = root / "etc/systemd/system"
        (units / "package-check.service").write_text(
            "[Unit]\nDescription=Blackbox package check\n\n[Service]\nType=oneshot\nExecStart=/bin/bash /mnt/vmjob/check.sh\n"
            "StandardOutput=journal+console\nStandardError=journal+console\n\n[Install]\nWantedBy=multi-user.target\n")
        (units / "multi-user.target.wants" / "package-check.service").symlink_to("/etc/systemd/system/package-check.service")
        (units / "serial-getty@ttyS0.service").symlink_to("/dev/null")
        image = tmp_path / "disk.img"
        subprocess.run(["truncate", "-s", "3G", image], check=True)
        run("mkfs.ext4", "-q", "-d", root, image)
    finally:
        run("rm", "-rf", root)
    booted = subprocess.run([ROOT / "tests" / "vm" / "run.sh", "--timeout", "900", "--boot", image,
                             ROOT / "tests" / "package" / "check.sh", upgrade], capture_output=True, text=True)
    print(booted.stdout, booted.stderr)
    assert booted.returncode == 0 and "package-check: ok" in booted.stdout, booted.stdout[-4000:] + booted.stderr[-2000:]
