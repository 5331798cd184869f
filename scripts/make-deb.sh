#!/usr/bin/env bash
# Builds blackbox_VERSION_ARCH.deb in the repository folder: a release build with the Swift runtime linked in
# statically (the target needs no Swift toolchain), its Depends computed from what the binary links (dpkg-shlibdeps),
# the systemd unit (the one `blackbox install-service` writes), /etc/blackbox/blackbox.toml as a conffile, and
# maintainer scripts that make the account and the recordings folder and start the service (postinst), stop it on
# removal (prerm) and, on purge only, remove the configuration and the account — never recordings (postrm).
# The same command on a Pi 5 makes the arm64 package.
set -euo pipefail
cd "$(dirname "$0")/.."
# Who builds it (lintian refuses a local-only address): DEB_MAINTAINER="Name <mail>" overrides.
maintainer=${DEB_MAINTAINER:-Blackbox maintainers <blackbox@example.org>}
# BLACKBOX_DEB_CONFIG=debug packages a debug build instead (the package test's: the release build takes 13 minutes on
# two cores); BLACKBOX_DEB_OUT is the folder the package is written to (the repository's by default).
config=${BLACKBOX_DEB_CONFIG:-release}
case "$config" in release|debug) ;; *) echo "make-deb: BLACKBOX_DEB_CONFIG is '$config'; allowed: release, debug" >&2; exit 2 ;; esac
# The debug build reuses the tests' own build folder (.build), so its packages are not built twice. Objects compiled there
# for the dynamic runtime name in their link records only Foundation's shared libraries, which bring their own
# dependencies; linked statically, Foundation's archives need theirs named (_FoundationCollections, _FoundationCShims,
# CoreFoundation, _FoundationICU: undefined symbols otherwise, seen in CI), so they are named here. lld takes an archive
# wherever it stands on the line, and drops what nothing uses with the unused sections (--gc-sections). ICU is needed
# even in a clean build: the static runtime's link list leaves it out (swiftlang/swift-package-manager#10564).
# The static runtime recompiles some objects and SwiftPM does not notice the change back: a later dynamic `swift build`
# there fails to link until `rm -rf .build/*/debug`; so the package test runs last.
# LLVM's lld links it, for two things gold cannot do that the daemon's memory shows (4.6 MB less resident, 38.0 -> 33.4
# MB file-backed, recording 720p30): relative relocations packed (DT_RELR, glibc 2.36: 2.8 MB of .rela.dyn -> 57 KB
# the loader reads) and no dynamic symbol table for the program's own functions (the static runtime's link list exports
# them all, 2.8 MB of names that nothing looks up: the program loads no plugins).
linker=(-Xswiftc -use-ld=lld -Xlinker -z -Xlinker pack-relative-relocs -Xlinker --no-export-dynamic)
# In the release package the functions a started daemon runs are laid out together (scripts/code-order.txt, written by
# scripts/code-order.py): it keeps only the code it runs mapped (MappedCode), and left where the compiler put them,
# those 1.5 MB of functions were spread over 8.5 MB of pages. The linker moves sections, so every function of the
# program and its packages gets its own (the compilers put most into one per file); the Swift runtime's prebuilt
# archives keep theirs. Names the code no longer has are skipped without a warning.
[ "$config" = release ] && linker+=(-Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections
                                    -Xlinker --symbol-ordering-file="$PWD/scripts/code-order.txt" -Xlinker --no-warn-symbol-ordering)
scratch=.build-deb
[ "$config" = debug ] && scratch=.build
foundation=(); for lib in _FoundationCollections _FoundationCShims CoreFoundation _FoundationICU; do foundation+=(-Xlinker "-l$lib"); done
swift build -c "$config" --static-swift-stdlib -Xlinker --gc-sections "${foundation[@]}" "${linker[@]}" --scratch-path "$scratch"
bin="$scratch/$config/blackbox"
version=$("$bin" --version | awk '{print $NF}')
arch=$(dpkg --print-architecture)
out="${BLACKBOX_DEB_OUT:-.}/blackbox_${version}_${arch}.deb"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/blackbox"

install -D -m 0755 "$bin" "$root/usr/bin/blackbox"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/bin/blackbox"
# The unit as install-service writes it, for the packaged binary's path.
install -d "$root/lib/systemd/system"
"$bin" install-service --print --binary /usr/bin/blackbox | sed '/^# To install by hand/,$d' | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' \
    >"$root/lib/systemd/system/blackbox.service"
install -D -m 0644 blackbox.example.toml "$root/etc/blackbox/blackbox.toml"
install -d "$root/usr/share/doc/blackbox"
cat >"$root/usr/share/doc/blackbox/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: blackbox
Source: https://github.com/blackbox-recorder/blackbox

Files: *
Copyright: the Blackbox authors
License: GPL-3+
 On Debian systems the full text of the GNU General Public License version 3 is in
 /usr/share/common-licenses/GPL-3.
EOF
printf 'blackbox (%s) unstable; urgency=medium\n\n  * Built from the repository by scripts/make-deb.sh.\n\n -- %s  %s\n' \
    "$version" "$maintainer" "$(date -R -u -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)")" | gzip -9n >"$root/usr/share/doc/blackbox/changelog.gz"

# What the binary links, as Debian names it.
mkdir -p "$work/debian"
printf 'Source: blackbox\n\nPackage: blackbox\nArchitecture: any\n' >"$work/debian/control"
depends=$(cd "$work" && dpkg-shlibdeps -O -eblackbox/usr/bin/blackbox 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
# Packed relocations need the loader of glibc 2.36 (the binary asks for GLIBC_ABI_DT_RELR), which dpkg-shlibdeps does
# not count: it reads the symbols only (2.35 here).
libc=$(sed -n 's/.*libc6 (>= \([^)]*\)).*/\1/p' <<<"$depends")
if readelf -V "$root/usr/bin/blackbox" | grep -q GLIBC_ABI_DT_RELR && dpkg --compare-versions "${libc:-0}" lt 2.36; then
    depends=$(sed -E 's/libc6( \(>= [^)]*\))?(,|$)/libc6 (>= 2.36)\2/' <<<"$depends")
fi

install -d "$root/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<EOF
Package: blackbox
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Depends: $depends, adduser, init-system-helpers (>= 1.52), gstreamer1.0-plugins-base, gstreamer1.0-plugins-good
Recommends: gstreamer1.0-libav, gstreamer1.0-alsa, gstreamer1.0-libcamera
Section: video
Priority: optional
Homepage: https://github.com/blackbox-recorder/blackbox
Description: camera blackbox: dashcam and CCTV recorder
 Records every second of one or more cameras (V4L2, libcamera, rpicam-vid) as
 signed, crash-safe fragmented MP4 with loop overwrite and event clips, and
 shows a live picture in any browser, over RTSP and to Home Assistant.
EOF
echo /etc/blackbox/blackbox.toml >"$root/DEBIAN/conffiles"
# The service is enabled whether or not systemd runs at install time (a card image being prepared, a chroot: it starts at
# the next boot), through init-system-helpers as Debian's own packages do; an owner who disabled it keeps it disabled
# across upgrades. It is (re)started only where systemd runs.
cat >"$root/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
    adduser --system --group --no-create-home --home /var/lib/blackbox --quiet blackbox
    for group in video audio gpio i2c; do
        getent group "$group" >/dev/null && adduser --quiet blackbox "$group" || true
    done
    install -d -m 0750 -o blackbox -g blackbox /var/lib/blackbox /var/lib/blackbox/recordings
    deb-systemd-helper unmask blackbox.service >/dev/null || true
    if deb-systemd-helper --quiet was-enabled blackbox.service; then
        deb-systemd-helper enable blackbox.service >/dev/null || true
    else
        deb-systemd-helper update-state blackbox.service >/dev/null || true
    fi
    if [ -d /run/systemd/system ]; then
        systemctl --system daemon-reload >/dev/null || true
        deb-systemd-invoke restart blackbox.service
    fi
fi
EOF
cat >"$root/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
    deb-systemd-invoke stop blackbox.service >/dev/null || true
fi
EOF
cat >"$root/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
[ -d /run/systemd/system ] && systemctl --system daemon-reload >/dev/null || true
if [ "$1" = remove ]; then
    deb-systemd-helper mask blackbox.service >/dev/null || true
fi
if [ "$1" = purge ]; then
    deb-systemd-helper purge blackbox.service >/dev/null || true
    deb-systemd-helper unmask blackbox.service >/dev/null || true
    # The configuration and the account go; the recordings (/var/lib/blackbox/recordings) stay: they are evidence.
    rm -rf /etc/blackbox
    deluser --system --quiet blackbox >/dev/null 2>&1 || true
fi
EOF
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"
# Conffiles (etc/) are not listed: dpkg keeps their sums itself.
(cd "$root" && find usr lib -type f -exec md5sum {} + >DEBIAN/md5sums)
fakeroot dpkg-deb --build -Zxz "$root" "$out" >/dev/null
echo "$out: $(du -h "$out" | cut -f1), Depends: $depends"
