#!/usr/bin/env bash
# Boots Debian's own kernel under QEMU (TCG) with the host's root filesystem shared read-only over
# virtio-9p, loads the kernel's `vivid` virtual camera (and `vimc`, built here, for libcamera) and runs COMMAND inside, as root, in the
# repository folder. Prints the guest's output and exits with COMMAND's exit code.
#   tests/vm/run.sh [--timeout SECONDS] [--disk IMAGE] [--pidfile FILE] COMMAND...
#   tests/vm/run.sh [--timeout SECONDS] --boot IMAGE FILE...
# --disk gives the guest IMAGE as a virtio disk (/dev/vda), written through to the image file: killing QEMU (its PID in
# --pidfile) loses what the guest had not yet written, as a power cut loses a machine's page cache.
# --boot boots the system on IMAGE (ext4) instead, with its own init (systemd): FILEs are shared with it, read-write, at
# /mnt/vmjob, and the exit code is what the guest writes to /mnt/vmjob/rc before it powers off.
# See ../shared/notes/v4l2-in-a-vm.md for why it is done this way (no media drivers on the build
# machines' kernel, and their /dev/kvm cannot boot a stock kernel).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
timeout_s=900
disk=()
pidfile=()
boot=""
while [ $# -gt 0 ]; do
    case "$1" in
        --boot) boot=$2; disk=(-drive "file=$2,format=raw,if=none,id=disk0,cache=writeback" -device virtio-blk-device,drive=disk0); shift 2 ;;
        --timeout) timeout_s=$2; shift 2 ;;
        --disk) disk=(-drive "file=$2,format=raw,if=none,id=disk0,cache=writeback" -device virtio-blk-device,drive=disk0); shift 2 ;;
        --pidfile) pidfile=(-pidfile "$2"); shift 2 ;;
        *) break ;;
    esac
done
[ $# -gt 0 ] || [ -n "$boot" ] || { echo "usage: tests/vm/run.sh [--timeout SECONDS] [--disk IMAGE] [--pidfile FILE] COMMAND..." >&2; exit 2; }

kver=$(ls /lib/modules | sort -V | tail -n 1)
[ -f "/boot/vmlinuz-$kver" ] || { echo "vm: no /boot/vmlinuz-$kver (install linux-image-amd64)" >&2; exit 1; }
cache=$repo/.build-vm/$kver-$(sha256sum "$0" | head -c 12)  # rebuilt when this script changes
mkdir -p "$cache"

# The kernel as an uncompressed ELF, for a direct (PVH) boot on the microvm machine type.
if [ ! -s "$cache/vmlinux" ]; then
    for offset in $(grep -abo $'\xfd7zXZ\x00' "/boot/vmlinuz-$kver" | cut -d: -f1); do
        if tail -c +$((offset + 1)) "/boot/vmlinuz-$kver" | xz -dc 2>/dev/null >"$cache/vmlinux.tmp"; [ -s "$cache/vmlinux.tmp" ] \
            && [ "$(head -c 4 "$cache/vmlinux.tmp" | od -An -c | tr -d ' ')" = "177ELF" ]; then
            mv "$cache/vmlinux.tmp" "$cache/vmlinux"
            break
        fi
    done
    [ -s "$cache/vmlinux" ] || { echo "vm: could not extract vmlinux from /boot/vmlinuz-$kver" >&2; exit 1; }
fi

# A busybox initramfs with just the modules that reach the shared root.
if [ ! -s "$cache/initramfs.cpio.gz" ]; then
    work=$(mktemp -d)
    mkdir -p "$work"/{bin,dev,proc,sys,lower,upper,newroot,modules}
    cp "$(readlink -f /bin/busybox)" "$work/bin/busybox"
    : >"$work/modules/order"
    : >"$work/modules/boot"
    # order: loaded at every start; boot: also for --boot, to mount an ext4 root from the disk.
    for m in virtio_mmio 9pnet_virtio 9p overlay boot:virtio_blk boot:ext4; do
        list=order
        case "$m" in boot:*) list=boot; m=${m#boot:} ;; esac
        modprobe -S "$kver" --show-depends "$m" | awk '$1 == "insmod" {print $2}' | while read -r ko; do
            base=$(basename "$ko")
            if ! grep -qx "$base" "$work/modules/order" "$work/modules/boot"; then
                cp "$ko" "$work/modules/$base"
                echo "$base" >>"$work/modules/$list"
            fi
        done
    done
    cat >"$work/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t devtmpfs dev /dev
for m in $(/bin/busybox cat /modules/order); do /bin/busybox insmod /modules/$m; done
if /bin/busybox grep -q blackbox.boot /proc/cmdline; then
    # --boot: the disk's own system, its init as PID 1, with the job folder at /mnt/vmjob.
    for m in $(/bin/busybox cat /modules/boot); do /bin/busybox insmod /modules/$m 2>/dev/null; done
    for i in $(/bin/busybox seq 100); do [ -b /dev/vda ] && break; /bin/busybox usleep 100000; done
    /bin/busybox mount -t ext4 /dev/vda /newroot
    /bin/busybox mkdir -p /newroot/mnt/vmjob
    /bin/busybox mount -t 9p -o trans=virtio,version=9p2000.L job /newroot/mnt/vmjob
    /bin/busybox umount /proc /dev
    exec /bin/busybox switch_root /newroot /sbin/init
fi
# cache=loose keeps what was read in the guest's page cache (the root is read-only and does not change during a run)
# and msize=512k reads in large messages: without them every start of the 97 MB debug binary read it again over 9p
# in 8 KiB pieces, 4–6 s a start under emulation instead of ~1.
/bin/busybox mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=524288 hostroot /newroot
# The guest's own /proc, /sys, /dev over the shared root's (whose /proc would be the host's:
# /proc/self/exe there is QEMU itself), and one writable tmpfs at /run for the job and scratch
# files. Nothing is mounted over /tmp or /mnt, where the repository may live.
/bin/busybox umount /proc /dev
/bin/busybox mount -t proc proc /newroot/proc
/bin/busybox mount -t sysfs sys /newroot/sys
/bin/busybox mount -t devtmpfs dev /newroot/dev
/bin/busybox mount -t tmpfs -o size=768m tmpfs /newroot/run
/bin/busybox mkdir -p /newroot/run/vmjob /newroot/run/tmp /newroot/run/home
/bin/busybox mount -t 9p -o trans=virtio,version=9p2000.L job /newroot/run/vmjob
exec /bin/busybox switch_root /newroot /bin/busybox sh /run/vmjob/guest.sh
INIT
    chmod +x "$work/init"
    (cd "$work" && find . | cpio -o -H newc --quiet | gzip -1 >"$cache/initramfs.cpio.gz")
    rm -rf "$work"
fi

# Linux's vimc, a virtual camera behind a media controller that libcamera drives with its own vimc pipeline handler
# (libcamera cannot drive vivid). Debian's kernel does not ship the module, so it is built once from the kernel's
# own source (linux-source) against its headers, as DKMS builds v4l2loopback.
kmm=$(echo "$kver" | cut -d. -f1,2)
if [ ! -s "$cache/vimc.ko" ] && [ -f "/usr/src/linux-source-$kmm.tar.xz" ] && [ -d "/lib/modules/$kver/build" ]; then
    work=$(mktemp -d)
    tar -xJf "/usr/src/linux-source-$kmm.tar.xz" -C "$work" --strip-components=4 "linux-source-$kmm/drivers/media/test-drivers/vimc"
    make -s -C "/lib/modules/$kver/build" M="$work/vimc" CONFIG_VIDEO_VIMC=m modules >"$work/build.log" 2>&1 \
        && cp "$work/vimc/vimc.ko" "$cache/vimc.ko" || { echo "vm: vimc did not build:" >&2; tail -5 "$work/build.log" >&2; }
    rm -rf "$work"
fi
vimc=""
[ -s "$cache/vimc.ko" ] && vimc=$cache/vimc.ko

case "$repo" in /run/*|/proc/*|/sys/*|/dev/*) echo "vm: the repository must not be under /run, /proc, /sys or /dev: the guest mounts its own there" >&2; exit 1 ;; esac
job=$(mktemp -d)
trap 'rm -rf "$job"' EXIT
# GStreamer's plugin registry (the daemon's RTSP server) is made on the host and read by the guest through the shared
# root: scanning every plugin under software emulation takes longer than a daemon is given to start.
gst-inspect-1.0 appsrc >/dev/null 2>&1 || true
registry="${XDG_CACHE_HOME:-$HOME/.cache}/gstreamer-1.0/registry.$(uname -m).bin"
[ -r "$registry" ] || registry=""
printf '%q ' "$@" >"$job/command"
append="console=ttyS0 quiet loglevel=3 panic=-1 tsc_early_khz=$(awk -F: '/^cpu MHz/ {printf "%d", $2 * 1000; exit}' /proc/cpuinfo)"
shares=(-fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap -device virtio-9p-device,fsdev=hostroot,mount_tag=hostroot)
# A USB port on a PCI controller (QEMU's xHCI, under the ACPI-described PCI root: libcamera's uvcvideo pipeline handler
# names cameras after that firmware node) with a usb-redir device on it, whose usbredir connection QEMU joins to the
# guest's virtio-serial port "usbredir" through a socket in the job folder: a device written in Python inside the guest
# (tests/vm/usbredir_port.py) is plugged into it.
usb=(-device virtio-serial-device -device qemu-xhci,id=xhci
     -chardev "socket,id=redir,path=$job/usbredir.sock,server=on,wait=off" -chardev "socket,id=redirport,path=$job/usbredir.sock"
     -device virtserialport,chardev=redirport,name=usbredir -device usb-redir,chardev=redir,bus=xhci.0)
machine=microvm,pit=on,rtc=on,pcie=on
if [ -n "$boot" ]; then
    # The booted system sees none of the host: only its disk and the files given.
    [ $# -eq 0 ] || cp "$@" "$job/"
    rm -f "$job/command"
    chmod 0777 "$job"
    append="$append blackbox.boot systemd.show_status=0"
    shares=()
    usb=()
fi
cat >"$job/guest.sh" <<GUEST
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
ip link set lo up 2>/dev/null || busybox ip link set lo up
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/run/home TMPDIR=/run/tmp PYTHONDONTWRITEBYTECODE=1 CI=\${CI:-} TZ=UTC
[ -n "$registry" ] && export GST_REGISTRY="$registry"
# The shared root is read-only and its plugins were just checked on the host: not stat'ed again one by one over 9p.
export GST_REGISTRY_UPDATE=no
# A daemon's start under software emulation: ~4 s with the root's pages cached (cache=loose), more while the first reads
# come over 9p; the tests give it this long before calling it failed.
export BLACKBOX_START_SECONDS=60
cd "$repo"
modprobe vivid n_devs=1 node_types=0x1 num_inputs=1 input_types=0x0
rc=\$?
# vimc after vivid (which stays /dev/video0), then udev: libcamera finds cameras through udev's database.
if [ -n "$vimc" ]; then
    modprobe -a videobuf2-vmalloc videobuf2-dma-contig v4l2-tpg videobuf2-v4l2 mc && insmod "$vimc" || rc=1
fi
# The xHCI controller and the virtio-serial port of the usb-redir device (udev here does not load them by itself).
modprobe -a xhci_pci virtio_console || rc=1
/lib/systemd/systemd-udevd --daemon >/dev/null 2>&1 && udevadm trigger && udevadm settle -t 30
if [ \$rc -eq 0 ]; then
    sh -c "\$(cat /run/vmjob/command)" 2>&1
    rc=\$?
fi
echo \$rc >/run/vmjob/rc
sync
busybox poweroff -f
GUEST

set +e
timeout --kill-after=10 "$timeout_s" qemu-system-x86_64 \
    -machine "$machine" -accel tcg,thread=multi -cpu max -smp 2 -m 1536 \
    -nographic -no-reboot -nodefaults -serial stdio \
    -kernel "$cache/vmlinux" -initrd "$cache/initramfs.cpio.gz" \
    -append "$append" "${shares[@]}" \
    -fsdev local,id=job,path="$job",security_model=none \
    -device virtio-9p-device,fsdev=job,mount_tag=job \
    "${usb[@]}" "${disk[@]}" "${pidfile[@]}" \
    | grep --line-buffered -v -E '^\[ *[0-9.]+\] (reboot: Power down|PCI: Fatal: No config space)'
qemu=${PIPESTATUS[0]}
set -e
if [ ! -f "$job/rc" ]; then
    echo "vm: the guest did not finish (qemu exit $qemu; timeout ${timeout_s}s)" >&2
    exit 1
fi
exit "$(cat "$job/rc")"
