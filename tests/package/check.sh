#!/bin/bash
# Runs inside the clean Debian 12 that tests/package/test_package.py made and booted (systemd as init), as the unit
# package-check.service, after `apt install ./blackbox_*.deb` had installed the package there. Checks the service the
# package started, installs the newer build (upgrade.deb) over it, removes it and purges it. Writes its exit code to
# /mnt/vmjob/rc and powers the machine off.
set -u
job=/mnt/vmjob
recordings=/var/lib/blackbox/recordings
rc=1
finish() {
    echo "$rc" >"$job/rc"
    sync
    systemctl poweroff --force --force
}
trap finish EXIT
say() { echo "package-check: $*"; }
fail() {
    say "FAILED: $*"
    journalctl -b -u blackbox --no-pager -o cat | tail -n 30
    exit 1
}
# wait_for SECONDS WHAT COMMAND...: until COMMAND succeeds.
wait_for() {
    local seconds=$1 what=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || fail "$what (after $seconds s)"
        sleep 0.5
    done
}
main_pid() { systemctl show -p MainPID --value blackbox.service; }
# The password the daemon generated on its first start, printed once to its journal.
password() { journalctl -u blackbox --no-pager -o cat | sed -n "s/.*generated password for user 'admin': \([^ ]*\).*/\1/p" | tail -n 1; }
status() { curl -fsS --max-time 10 -u "admin:$(password)" http://127.0.0.1:8080/api/status; }
recording() { status | grep -Eq '"state" ?: ?"recording"'; }
part_grows() { [ -n "$(find "$recordings" -name '*.part' -size +1k)" ]; }

say "booted: $(. /etc/os-release; echo "$PRETTY_NAME"), blackbox $(dpkg-query -W -f='${Version}' blackbox)"
# The binary needs no Swift runtime: none is installed here and it links none.
[ -z "$(find / -xdev -name 'libswift*.so*' -print -quit)" ] || fail "a Swift library is installed"
ldd /usr/bin/blackbox | grep -qi swift && fail "/usr/bin/blackbox links a Swift library: $(ldd /usr/bin/blackbox | grep -i swift)"

# 1. Enabled by the package, started by systemd at boot: READY (Type=notify: active means READY), healthy, recording.
wait_for 240 "the service never became active" systemctl is-active --quiet blackbox.service
say "active, MainPID $(main_pid), user $(stat -c %U "/proc/$(main_pid)")"
wait_for 60 "/healthz did not answer ok" curl -fsS --max-time 10 http://127.0.0.1:8080/healthz
wait_for 60 "/api/status does not say recording" recording
wait_for 120 "no recording grows in $recordings" part_grows
say "healthy and recording: $(find "$recordings" -name '*.part' -printf '%P %s bytes\n')"
grep -q '320x240@5' /etc/blackbox/blackbox.toml || fail "the test's change to the configuration is not there"

# 2. A newer build over it: the configuration (changed by the test) and the recordings stay; the service restarts.
before_pid=$(main_pid)
dpkg -i "$job/upgrade.deb" || fail "dpkg -i upgrade.deb"
say "upgraded to $(dpkg-query -W -f='${Version}' blackbox)"
wait_for 120 "the service is not active after the upgrade" systemctl is-active --quiet blackbox.service
[ "$(main_pid)" != "$before_pid" ] || fail "the service was not restarted by the upgrade (MainPID $before_pid)"
grep -q '320x240@5' /etc/blackbox/blackbox.toml || fail "the upgrade replaced the changed configuration"
# The segment the restart ended was finished: a whole, signed file.
finished=$(find "$recordings" -name '*.mp4' | head -n 1)
[ -n "$finished" ] || fail "the segment ended by the upgrade's restart is not a finished .mp4"
wait_for 120 "not recording after the upgrade" recording
say "restarted as MainPID $(main_pid), configuration kept, $(find "$recordings" -name '*.mp4' | wc -l) finished file(s)"

# 3. Remove keeps the configuration and the recordings; purge removes the configuration, never recordings. (dpkg, which
# apt-get remove and purge call to run the package's scripts: apt itself takes half a minute to start under emulation.)
dpkg --remove blackbox >/dev/null || fail "dpkg --remove"
systemctl is-active --quiet blackbox.service && fail "the service still runs after remove"
[ -f /etc/blackbox/blackbox.toml ] || fail "remove deleted the configuration"
[ -f "$finished" ] || fail "remove deleted $finished"
dpkg --purge blackbox >/dev/null || fail "dpkg --purge"
[ ! -e /etc/blackbox ] || fail "purge left /etc/blackbox"
[ ! -e /usr/bin/blackbox ] || fail "purge left /usr/bin/blackbox"
getent passwd blackbox >/dev/null && fail "purge left the blackbox account"
[ -f "$finished" ] || fail "purge deleted $finished"
say "removed and purged; recordings kept: $(find "$recordings" -type f | wc -l) file(s)"
say "ok"
rc=0
