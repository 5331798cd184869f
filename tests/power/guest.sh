#!/bin/bash
# Runs inside the VM (tests/vm/run.sh --disk): checks and mounts the disk, then records onto it.
#   guest.sh FS record   records until the VM is killed, printing "FINISHED PATH" for every segment the daemon has
#                        finished and synced ("segment finished" is logged after the rename and the syncs)
#   guest.sh FS check    recovers (a daemon start), records one more segment, stops, and prints the verdict of every file
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
echo "FSCK $?"
mkdir -p /run/disk
mount -t "$fs" /dev/vda /run/disk || { echo "MOUNT FAILED"; cat /run/tmp/fsck.log; exit 1; }
echo "MOUNTED"
args="--camera front=testpattern:320x240@10 --segment-seconds 4 --recordings /run/disk/rec --host 127.0.0.1 --port 0 --no-rtsp --log-level debug"
if [ "$mode" = record ]; then
    "$binary" run $args 2>&1 | sed -n -u 's/.*file=\([^ ]*\) .*segment finished.*/FINISHED \1/p'
    exit 0
fi
"$binary" run $args >/run/tmp/daemon.log 2>&1 &
pid=$!
# Recovery runs before recording starts; one new segment shows the daemon recording on the repaired disk.
for _ in $(seq 600); do grep -q "segment finished" /run/tmp/daemon.log && break; sleep 0.1; done
kill -TERM "$pid"
wait "$pid"
echo "DAEMON $?"
grep -E "recovered|refus|error" /run/tmp/daemon.log | sed 's/^/LOG /'
"$binary" recordings verify --signatures --recordings /run/disk/rec 2>&1 | sed 's/^/VERIFY /'
find /run/disk/rec -name '*.mp4*' -type f -exec stat -c 'FILE %n %s' {} \;
umount /run/disk
