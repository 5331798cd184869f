#!/usr/bin/env bash
# Installs what blackbox needs on Debian 12 / Raspberry Pi OS, and nothing that is already there.
#   scripts/setup.sh run    libraries to build and run the daemon
#   scripts/setup.sh test   also what the test suite uses (a Python venv with pytest and Pillow)
#   scripts/setup.sh deb    also what `make deb` packages with (dpkg-shlibdeps, fakeroot, lintian)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}

packages=(libturbojpeg0-dev libx264-dev libmosquitto-dev pkg-config)
# The RTSP server: GStreamer's gst-rtsp-server with appsrc (plugins-base) and the H.264 RTP payloader and rtpbin (plugins-good).
packages+=(libgstrtspserver-1.0-dev gstreamer1.0-plugins-base gstreamer1.0-plugins-good)
# libcamera:N cameras (the Pi's camera modules) in-process: GStreamer's libcamerasrc into an appsink (plugins-base's
# app and video libraries). Raspberry Pi OS ships its own libcamera 0.5 build of the same package.
packages+=(libgstreamer-plugins-base1.0-dev gstreamer1.0-libcamera libcamera-ipa)
# Sources/LibcameraHold is C++ (libcamera 0.0.3's camera manager is reached through a std::shared_ptr); the Swift
# toolchain wants these headers too, so this only makes the need explicit.
packages+=(libstdc++-12-dev)
# Sound: ALSA capture (plugins' alsasrc) encoded to AAC-LC by libavcodec's encoder through gst-libav's avenc_aac.
packages+=(gstreamer1.0-alsa gstreamer1.0-libav)
if [ "$mode" = test ]; then
    # ffmpeg validates recordings; the rest boots Debian's kernel in a VM with the vivid camera and a
    # v4l2loopback MJPEG "camera" (DKMS builds it for that kernel).
    packages+=(ffmpeg qemu-system-x86 linux-image-amd64 linux-headers-amd64 v4l2loopback-dkms busybox-static cpio kmod xz-utils v4l-utils)
    # The web UI is tested in Debian's headless Chromium, driven through chromedriver by Selenium.
    packages+=(chromium chromium-driver fonts-dejavu-core)
    # MQTT is tested against a real Mosquitto broker that the tests start on a free port.
    packages+=(mosquitto)
    # RTSP clients: GStreamer's rtspsrc (gst-launch-1.0, h264parse from plugins-bad) beside ffmpeg; several hosts are
    # network namespaces made with iproute2.
    packages+=(gstreamer1.0-tools gstreamer1.0-plugins-bad iproute2)
    # The shipped unit is checked with systemd-analyze verify.
    packages+=(systemd)
    # libcamera gets a real camera in the VM: the kernel's vimc, built from Debian's kernel source against its headers
    # (tests/vm/run.sh), and libcamera's own `cam` as the "other program" that wants the camera.
    packages+=(linux-source libcamera-tools)
    # Sound from a real ALSA device in the VM: the kernel's loopback card, with aplay playing into it.
    packages+=(alsa-utils)
    # Power cuts are made on FAT32, exFAT and ext4 disk images that the tests format.
    packages+=(dosfstools exfatprogs e2fsprogs)
    # GPS: a real gpsd fed NMEA through a pseudo-terminal, and gpsbabel reading the GPX exports back.
    packages+=(gpsd gpsbabel)
    # A daemon that does not stop at SIGTERM has its threads' stacks printed before it is killed (conftest's stop).
    packages+=(gdb)
    # The package test: make-deb's tools, and a clean Debian 12 made with debootstrap to install the package on.
    packages+=(dpkg-dev fakeroot binutils debootstrap)
fi
if [ "$mode" = deb ]; then
    packages+=(dpkg-dev fakeroot lintian binutils)
fi
if [ "$mode" = test ]; then
    # Debian's own python3 needs python3-venv for 'python3 -m venv'.
    python3 -c 'import venv, ensurepip' 2>/dev/null || packages+=(python3-venv)
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup: installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null; then
    echo "setup: Swift 6.2 or newer is needed and was not found on PATH." >&2
    echo "setup: install it from swift.org (Linux, aarch64 for a Raspberry Pi 5), then run this again." >&2
    exit 1
fi

if [ "$mode" = test ]; then
    if [ ! -x .venv/bin/python ]; then
        python3 -m venv .venv
    fi
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
fi
