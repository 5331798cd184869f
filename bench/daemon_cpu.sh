#!/usr/bin/env bash
# The whole daemon's CPU and bytes written per second while it records real footage with nobody
# watching, for each recording codec in turn (one run, same machine): a file: camera plays the street
# clip at 720p30 (each source frame once), and /proc/PID/stat gives the CPU time over 30 s.
#   bench/daemon_cpu.sh [CLIP] [WxH]        Build with -c release first (BLACKBOX_BIN overrides the binary).
set -euo pipefail
cd "$(dirname "$0")/.."
clip=${1:-../shared/fixtures/street_768x576_10fps.avi}
size=${2:-1280x720}
bin=${BLACKBOX_BIN:-.build/release/blackbox}
seconds=30
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
ffmpeg -v error -y -i "$clip" -vf "setpts=N/(30*TB),scale=${size/x/:}" -r 30 -frames:v 300 -pix_fmt yuv420p -f yuv4mpegpipe "$work/src.y4m"
ticks=$(getconf CLK_TCK)
for codec in mjpeg h264; do
    "$bin" run --host 127.0.0.1 --port 0 --recordings "$work/rec-$codec" --camera "front=file:$work/src.y4m" --codec "$codec" \
        >"$work/$codec.log" 2>&1 &
    pid=$!
    sleep 5
    cpu0=$(awk '{print $14 + $15}' "/proc/$pid/stat"); bytes0=$(du -sb "$work/rec-$codec" | cut -f1)
    sleep "$seconds"
    cpu1=$(awk '{print $14 + $15}' "/proc/$pid/stat"); bytes1=$(du -sb "$work/rec-$codec" | cut -f1)
    kill "$pid"; wait "$pid" || true
    awk -v c=$((cpu1 - cpu0)) -v t="$ticks" -v s="$seconds" -v b=$((bytes1 - bytes0)) -v codec="$codec" -v size="$size" \
        'BEGIN { printf "%-5s %s@30, no viewer: %5.1f %% of a core, %6.2f MB/s written (%.2f GB/h)\n", codec, size, 100 * c / t / s, b / s / 1e6, b / s * 3600 / 1e9 }'
done
