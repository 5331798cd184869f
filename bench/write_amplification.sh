#!/usr/bin/env bash
# Write amplification of recording: bytes the daemon wrote to storage ÷ bytes of video (JPEG) recorded.
#   bench/write_amplification.sh [SECONDS] [SIZE@FPS] [FSYNC]     e.g. 30 1280x720@30 fragment
# Run it on the disk you record to (not a tmpfs: it has no block device to count writes on).
# write_bytes in /proc/PID/io counts what the daemon sent to the block layer; the filesystem's own
# journal writes are not included.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
geometry=${2:-1280x720@30}
fsync=${3:-fragment}
bin=${BLACKBOX_BIN:-.build/release/blackbox}
[ -x "$bin" ] || { echo "build first: swift build -c release" >&2; exit 1; }
dir=$(mktemp -d "${BENCH_DIR:-$PWD}/.bench-recordings.XXXXXX")
trap 'rm -rf "$dir"' EXIT
"$bin" run --host 127.0.0.1 --port 0 --recordings "$dir/r" --camera "front=testpattern:$geometry" \
    --segment-seconds 10 --fsync "$fsync" >"$dir/log" 2>&1 &
pid=$!
sleep "$seconds"
# Stop recording first (the segment is finished and synced), so every recorded byte is counted.
port=$(grep -o 'serving http://[^:]*:[0-9]*' "$dir/log" | grep -o '[0-9]*$')
curl -s -X POST "http://127.0.0.1:$port/api/recording/stop" >/dev/null
sleep 1
written=$(awk '/^write_bytes/ {print $2}' "/proc/$pid/io")
kill -TERM "$pid"
wait "$pid"
video=0
for f in $(find "$dir/r" -name '*.mp4'); do
    bytes=$(ffprobe -v error -show_entries packet=size -of csv=p=0 "$f" | awk '{s+=$1} END {print s+0}')
    video=$((video + bytes))
done
files=$(find "$dir/r" -name '*.mp4' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
echo "recorded $seconds s of $geometry test pattern, fsync=$fsync"
echo "video (JPEG) bytes:      $video"
echo "file bytes (MP4):        $files  (container overhead $(awk -v a="$files" -v b="$video" 'BEGIN {printf "%.4f", a/b}'))"
echo "bytes written to disk:   $written"
echo "write amplification:     $(awk -v a="$written" -v b="$video" 'BEGIN {printf "%.4f", a/b}')"
