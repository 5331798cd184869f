#!/usr/bin/env bash
# The two recording codecs on real moving footage (../shared/fixtures/street_768x576_10fps.avi, or
# the clip given), at the sizes given: CPU per frame and bytes per frame/hour from `blackbox bench
# --y4m`, then SSIM of each recording against the source frames (ffmpeg's ssim filter).
#   bench/codecs.sh [CLIP] [SIZES]      e.g. bench/codecs.sh ../shared/fixtures/street_768x576_10fps.avi 1280x720,1920x1080
# Each source frame is used once, timed at 30 fps (the motion between frames is that of 10 fps
# footage: a harder case for inter-frame coding than a real 30 fps camera). Build with -c release.
set -euo pipefail
cd "$(dirname "$0")/.."
clip=${1:-../shared/fixtures/street_768x576_10fps.avi}
sizes=${2:-1280x720,1920x1080}
bin=${BLACKBOX_BIN:-.build/release/blackbox}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for size in ${sizes//,/ }; do
    w=${size%x*}; h=${size#*x}
    ffmpeg -v error -y -i "$clip" -vf "setpts=N/(30*TB),scale=$w:$h" -r 30 -frames:v 300 -pix_fmt yuv420p -f yuv4mpegpipe "$work/src.y4m"
    "$bin" bench --y4m "$work/src.y4m" --output "$work/out"
    for codec in mjpeg h264; do
        ssim=$(ffmpeg -i "$work/out/bench-$codec.mp4" -i "$work/src.y4m" -lavfi "[0:v][1:v]ssim" -f null - 2>&1 | grep -o "All:[0-9.]*" | tail -1)
        echo "$codec  SSIM ${ssim#All:} against the source ($size)"
    done
    rm -rf "$work/out" "$work/src.y4m"
done
