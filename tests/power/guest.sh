#!/bin/bash
# Runs inside the VM (tests/vm/run.sh --disk): checks and mounts the disk, then records onto it.
#   guest.sh FS record   records until the VM is killed, printing "FINISHED PATH" for every segment and event clip the
#                        daemon has finished and synced ("segment finished" / "event clip saved" are logged after the
#                        rename and the syncs) and "DELETED PATH" for every file loop overwrite deleted; an event clip is
#                        asked for every 3 s and the clips' share of the quota is small, so cuts also fall in clips
#                        and in deletions
#   guest.sh FS check    prints "ONDISK PATH SIZE" for every recording the cuts left, recovers (a daemon start),
#                        records one more segment, prints the day's timeline, stops, and prints the verdict of every file
fs=$1
mode=$2
binary=${BLACKBOX_BIN:-.build/debug/blackbox}
modprobe virtio_blk 2>/dev/null
for _ in $(seq 100); do [ -b /dev/vda ] && break; sleep 0.1; done
# A cut leaves the filesystem as a power cut does: the journal (ext4) is replayed, FAT's dirty bit cleared.
case "$fs" in
    vfat) fsck.vfat -a /dev/vda >/run/tmp/fsck.log 2>&1 ;;
    exfat) fsck.exfat -y /dev/vda >/run/tmp/fsck.log 2>&1 ;;
    ext4) fsck.ext4 -p /dev/vda >/run/tmp/fsck.log 2>&1 ;;
esac
rc=$?
echo "FSCK $rc"
[ "$rc" -ne 0 ] && sed 's/^/FSCKLOG /' /run/tmp/fsck.log | head -30
mkdir -p /run/disk
mount -t "$fs" /dev/vda /run/disk || { echo "MOUNT FAILED"; cat /run/tmp/fsck.log; exit 1; }
echo "MOUNTED"
rec=/run/disk/rec
# What the cuts left, before a daemon's start-up pass changes it.
[ "$mode" = check ] && find $rec -name '*.mp4*' -type f -exec stat -c 'ONDISK %n %s' {} \;
args="--camera front=testpattern:320x240@10 --segment-seconds 4 --event-pre 1 --event-post 2 --quota 2M --event-quota 3 --recordings $rec
      --host 127.0.0.1 --port 8089 --no-rtsp --log-level debug"
# A known password, set once on the disk: the guest asks for event clips and the timeline with it.
[ -f "$rec/.blackbox/auth.toml" ] || { mkdir -p "$rec"; echo power-cut-pass | "$binary" passwd --recordings "$rec" >/dev/null; }
api() { curl -s -m 5 -u admin:power-cut-pass "$@"; }
if [ "$mode" = record ]; then
    (while sleep 3; do api -X POST http://127.0.0.1:8089/api/events >/dev/null; done) &
    # The guest's own clock, twice a second: the last one printed is when the power was cut, give or take that.
    (while sleep 0.5; do echo "NOW $(date +%s.%N)"; done) &
    "$binary" run $args 2>&1 | tee /run/tmp/daemon.log | sed -n -u -e 's/.*file=\([^ ]*\) .*segment finished.*/FINISHED \1/p' \
        -e 's/.*file=\([^ ]*\) .*event clip saved.*/FINISHED \1/p' -e "s|.*file=\([^ ]*\) .*loop overwrite: deleted.*|DELETED $rec/\1|p"
    # The daemon is meant to run until the power goes: if it ends, say how and why.
    echo "DAEMON EXITED ${PIPESTATUS[0]}"
    grep -v -E "^[^ ]+ (debug|trace) " /run/tmp/daemon.log | tail -n 30 | sed 's/^/LOG /'
    exit 0
fi
"$binary" run $args >/run/tmp/daemon.log 2>&1 &
pid=$!
# Recovery runs before recording starts; one new segment shows the daemon recording on the repaired disk.
for _ in $(seq 600); do grep -q "segment finished" /run/tmp/daemon.log && break; sleep 0.1; done
# The twelve hours around now, not today's day: a run across midnight would leave out what came before it.
now=$(date +%s)
span="from=$(date -u -d "@$((now - 21600))" +%FT%TZ)&to=$(date -u -d "@$((now + 21600))" +%FT%TZ)"
echo "TIMELINE $(api "http://127.0.0.1:8089/api/timeline?camera=front&$span")"
kill -TERM "$pid"
wait "$pid"
echo "DAEMON $?"
grep -E "recovered|refus|error" /run/tmp/daemon.log | sed 's/^/LOG /'
sed -n "s|.*file=\([^ ]*\) .*loop overwrite: deleted.*|DELETED $rec/\1|p" /run/tmp/daemon.log
"$binary" recordings verify --signatures --recordings /run/disk/rec 2>&1 | sed 's/^/VERIFY /'
find /run/disk/rec -name '*.mp4*' -type f -exec stat -c 'FILE %n %s' {} \;
umount /run/disk
