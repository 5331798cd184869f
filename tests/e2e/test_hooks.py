"""Hooks: configured commands (argv lists, never shell strings) run for every finished event clip and
segment, supervised: a hanging hook is killed after its timeout, a flood never runs more than N at once,
and failures are counted without touching recording."""
import json
import os
import pathlib
import time
import urllib.request

from conftest import Daemon
from helpers import post, status, wait_for


def script(tmp_path, name, body):
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def config(tmp_path, hooks):
    path = tmp_path / "hooks.toml"
    path.write_text("[hooks]\n" + hooks)
    return path


def test_a_hook_gets_each_finished_file_in_arguments_and_environment(tmp_path):
    log = tmp_path / "calls.jsonl"
    # Writes its arguments and the BLACKBOX_ variables as one JSON line per call.
    hook = script(tmp_path, "record.sh", f"""
python3 - "$@" <<'PY' >> {log}
import json, os, sys
print(json.dumps({{"argv": sys.argv[1:], "env": {{k: v for k, v in os.environ.items() if k.startswith("BLACKBOX_")}}}}))
PY
""")
    cfg = config(tmp_path, f'on_event_clip = ["{hook}", "clip", "{{camera}}", "{{path}}"]\non_segment_complete = ["{hook}"]\n')
    d = Daemon("--config", str(cfg), "--camera", "front=testpattern:320x240@10", "--segment-seconds", "2",
               "--event-pre", "1", "--event-post", "1", recordings=tmp_path / "rec")
    try:
        post(d, "/api/events", {"camera": "front", "reason": "doorbell"})

        def calls():
            return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

        wait_for(lambda: any(c["argv"][:1] == ["clip"] for c in calls()) and sum(c["argv"][:1] != ["clip"] for c in calls()) >= 2,
                 20, "a clip hook and two segment hooks")
        # A hook writes its line before it exits; it is counted once it has exited and been reaped.
        wait_for(lambda: status(d)["hooks"]["succeeded"] >= 3, 10, "three hooks counted as succeeded")
        hooks = status(d)["hooks"]
        assert hooks["failed"] == 0 and hooks["succeeded"] >= 3 and hooks["dropped"] == 0, hooks
        with urllib.request.urlopen(d.base + "/metrics", timeout=10) as r:
            assert 'blackbox_hooks_total{camera="all",result="succeeded"}' in r.read().decode()
    finally:
        assert d.stop() == 0
    clip = next(c for c in calls() if c["argv"][:1] == ["clip"])
    _, camera, path = clip["argv"]
    assert camera == "front" and os.path.isabs(path) and pathlib.Path(path).is_file() and path.endswith("_manual.mp4"), clip
    env = clip["env"]
    assert env["BLACKBOX_PATH"] == path and env["BLACKBOX_KIND"] == "event" and env["BLACKBOX_REASON"] == "doorbell", env
    assert env["BLACKBOX_CAMERA"] == "front" and int(env["BLACKBOX_BYTES"]) == pathlib.Path(path).stat().st_size, env
    assert float(env["BLACKBOX_SECONDS"]) >= 1.0 and abs(float(env["BLACKBOX_START_EPOCH"]) - time.time()) < 60, env
    assert env["BLACKBOX_RELATIVE"] == str(pathlib.Path(path).relative_to((tmp_path / "rec").resolve())), env
    # A segment hook without placeholders gets the path as its one argument.
    segment = next(c for c in calls() if c["argv"][:1] != ["clip"])
    assert len(segment["argv"]) == 1 and segment["argv"][0].endswith("_front.mp4") and segment["env"]["BLACKBOX_KIND"] == "segment", segment
    assert pathlib.Path(segment["argv"][0]).is_file()


def test_a_hanging_hook_is_killed_after_its_timeout_with_its_children(tmp_path):
    pids = tmp_path / "pids"
    # The hook starts a child of its own, and both hang.
    hook = script(tmp_path, "hang.sh", f"sleep 600 & echo $! >> {pids}; echo $$ >> {pids}; sleep 600\n")
    cfg = config(tmp_path, f'on_event_clip = ["{hook}"]\ntimeout_seconds = 2\n')
    d = Daemon("--config", str(cfg), "--camera", "front=testpattern:320x240@10", "--event-pre", "0", "--event-post", "1",
               recordings=tmp_path / "rec")
    try:
        post(d, "/api/events", {"camera": "front"})
        wait_for(lambda: status(d)["hooks"]["timedOut"] == 1, 15, "the hook killed after 2 s")
        hooks = status(d)["hooks"]
        assert hooks["failed"] == 1 and hooks["running"] == 0 and "ran longer than 2.0 s" in hooks["lastFailure"], hooks
        for pid in pids.read_text().split():
            assert not pathlib.Path(f"/proc/{pid}").exists(), f"process {pid} of the hook is still there"
        # Recording went on all along.
        assert status(d)["cameras"][0]["recording"]["state"] == "recording"
    finally:
        assert d.stop() == 0


def test_a_flood_of_clips_never_runs_more_than_max_running_hooks(tmp_path):
    running, most = tmp_path / "running", tmp_path / "most"
    # Counts how many run at once (with a lock: several start together).
    hook = script(tmp_path, "slow.sh", f"""
exec 9>{tmp_path}/lock
flock 9; n=$(( $(cat {running} 2>/dev/null || echo 0) + 1 )); echo $n > {running}
m=$(cat {most} 2>/dev/null || echo 0); [ $n -gt $m ] && echo $n > {most}; flock -u 9
sleep 1
flock 9; echo $(( $(cat {running}) - 1 )) > {running}; flock -u 9
""")
    cfg = config(tmp_path, f'on_segment_complete = ["{hook}"]\nmax_running = 2\nqueue = 4\n')
    # Segments of 1 s: a hook of 1 s each, two at a time, and a queue of 4, while three cameras finish segments.
    d = Daemon("--config", str(cfg), "--camera", "a=testpattern:160x120@10", "--camera", "b=testpattern:160x120@10",
               "--camera", "c=testpattern:160x120@10", "--segment-seconds", "1", recordings=tmp_path / "rec")
    try:
        wait_for(lambda: status(d)["hooks"]["dropped"] >= 1 and status(d)["hooks"]["succeeded"] >= 4, 30,
                 "hooks run and some dropped")
        hooks = status(d)["hooks"]
        assert hooks["mostRunning"] == 2 and hooks["running"] <= 2 and hooks["queued"] <= 4 and hooks["failed"] == 0, hooks
        assert all(c["recording"]["droppedFrames"] == 0 for c in status(d)["cameras"]), "recording waited for the hooks"
    finally:
        code, took = d.terminate_timed()
        # The 2 s a stop may take, plus the half second a running hook gets between SIGTERM and SIGKILL.
        assert code == 0 and took < 2.5, f"exit {code} after {took:.2f} s: stopping waited for the hooks"
    assert int(most.read_text()) == 2


def test_a_hook_that_cannot_start_or_fails_is_counted_and_bad_settings_are_refused(tmp_path):
    cfg = config(tmp_path, 'on_event_clip = ["/nonexistent/uploader", "{path}"]\non_segment_complete = ["false"]\n')
    d = Daemon("--config", str(cfg), "--camera", "front=testpattern:320x240@10", "--segment-seconds", "1",
               "--event-pre", "0", "--event-post", "1", recordings=tmp_path / "rec")
    try:
        post(d, "/api/events", {"camera": "front"})
        wait_for(lambda: "hook=on_event_clip" in d.log() and status(d)["hooks"]["started"] >= 2, 15,
                 "the clip's hook tried and two segment hooks run")
        assert status(d)["hooks"]["succeeded"] == 0
    finally:
        assert d.stop() == 0
    # Each hook's own result: the uploader never started (so it is failed but not started), each `false` ran and failed.
    failures = [line for line in d.log().splitlines() if "hook failed" in line]
    clip = [line for line in failures if "hook=on_event_clip" in line]
    segment = [line for line in failures if "hook=on_segment_complete" in line]
    assert len(clip) == 1 and "/nonexistent/uploader" in clip[0], failures
    # A segment finished as the daemon stops may start one more `false`, stopped with the daemon (seen in CI).
    ran = [line for line in segment if "false" in line and "status 1" in line]
    assert len(ran) >= 2 and all(line in ran or "stopped with the daemon" in line for line in segment), failures
    assert len(failures) == len(clip) + len(segment), failures
    import subprocess
    from conftest import BINARY
    for text, message in [
        ("on_event_clip = []\n", "hooks on_event_clip is empty; allowed: a list naming a program"),
        ('on_event_clip = "rclone copy {path} nas:"\n', "must be a list of strings"),
        ('on_event_clip = ["x"]\ntimeout_seconds = 0\n', "timeout_seconds 0.0 is out of range; allowed: 1 to 86400"),
        ('on_event_clip = ["x"]\nmax_running = 0\n', "max_running 0 is out of range; allowed: 1 to 16"),
        ('on_clip = ["x"]\n', "unknown setting; allowed: max_running, on_event_clip, on_segment_complete, queue, timeout_seconds"),
    ]:
        r = subprocess.run([BINARY, "run", "--port", "0", "--config", str(config(tmp_path, text)), "--recordings", str(tmp_path / "rec")],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and message in r.stderr, (text, r.stderr)
