#!/usr/bin/env bash
# What signing costs and how fast footage verifies, on real moving footage (the street clip, or the
# clip given) at the size given: `blackbox bench --y4m` prints CPU per fragment for hashing + signing
# and the bytes the links add; its pipeline recordings (signed, as the daemon writes them) are then
# verified with `blackbox recordings verify --signatures` (GB per minute, all samples re-hashed) and
# with the independent tools/verify_signatures.py. Build with -c release.
#   bench/signing.sh [CLIP] [SIZE]      e.g. bench/signing.sh ../shared/fixtures/street_768x576_10fps.avi 1920x1080
set -euo pipefail
cd "$(dirname "$0")/.."
clip=${1:-../shared/fixtures/street_768x576_10fps.avi}
size=${2:-1280x720}
bin=${BLACKBOX_BIN:-.build/release/blackbox}
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
w=${size%x*}; h=${size#*x}
ffmpeg -v error -y -i "$clip" -vf "setpts=N/(30*TB),scale=$w:$h" -r 30 -frames:v 300 -pix_fmt yuv420p -f yuv4mpegpipe "$work/src.y4m"
"$bin" bench --y4m "$work/src.y4m" --output "$work/out" | grep -E "signing|pipeline|^blackbox"
for codec in mjpeg h264; do
    files=$(find "$work/out/pipeline-$codec" -name '*.mp4' | sort)
    bytes=$(cat $files | wc -c)
    echo "$codec: $(echo "$files" | wc -l) signed files, $((bytes / 1000000)) MB"
    # Three rounds, the page cache warm after the first: the verifier's own speed, not the disk's.
    for round in 1 2 3; do "$bin" recordings verify --signatures $files | tail -1; done
    start=$(date +%s.%N)
    $python tools/verify_signatures.py $files | tail -1
    end=$(date +%s.%N)
    echo "independent verifier: $(echo "$bytes / 1000000000 / ($end - $start) * 60" | bc -l | cut -c1-5) GB/min"
done
