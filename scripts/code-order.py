#!/usr/bin/env python3
"""Writes scripts/code-order.txt, the order lld lays out the package binary's functions in (make-deb.sh passes it as
--symbol-ordering-file): first the functions a recording daemon runs once it has started, the most used first.

The daemon unmaps its code once started and maps it back a page at a time as it runs (Platform's MappedCode), so what
stays resident is every page holding a function it runs. Left where the compiler put them, those functions are spread
over nearly all of the 25 MB of text; gathered, they fill a few MB. The functions are those callgrind saw run after
start-up in two runs of the binary (H.264, then MJPEG; test pattern, RTSP on, 10 s segments) while clients used it:
status and metrics polls, the timeline, an MJPEG and a live H.264 viewer, an RTSP client, a snapshot, an event clip.
Names that a later change removes are skipped by the linker; run this again after large changes.
    python3 scripts/code-order.py      (BLACKBOX_BIN: the package's binary, default .build-deb/release/blackbox)"""
import base64
import collections
import json
import os
import pathlib
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
BIN = os.environ.get("BLACKBOX_BIN", str(ROOT / ".build-deb" / "release" / "blackbox"))
OUT = ROOT / "scripts" / "code-order.txt"
WORKLOAD_SECONDS = 40


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def functions_run(binary, work, codec):
    """{mangled name: instructions} of the binary's own functions run after start-up, from one run under callgrind."""
    out = work / f"cg-{codec}.out"
    port, rtsp = free_port(), free_port()
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-instr=no", "--demangle=no",
                             str(binary), "run", "--host", "127.0.0.1", "--port", str(port), "--rtsp-port", str(rtsp),
                             "--recordings", str(work / f"rec-{codec}"), "--camera", "front=testpattern:320x240@10",
                             "--codec", codec, "--segment-seconds", "10"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    password = None
    for line in proc.stdout:
        if "generated password for user 'admin': " in line:
            password = line.split("'admin': ", 1)[1].split()[0]
        if "serving http://" in line:
            break
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    auth = {"Authorization": "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()}

    def get(path, timeout=30, data=None):
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={**auth, "Content-Type": "application/json"}, data=data)
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.read()

    deadline = time.monotonic() + 120
    while json.loads(get("/api/status"))["cameras"][0]["framesCaptured"] < 20:
        if time.monotonic() > deadline:
            sys.exit(f"code-order: {codec}: no frames within 120 s under callgrind")
        time.sleep(1)
    # Start-up is over: what runs from here on goes into the second dump.
    subprocess.run(["callgrind_control", "--dump=started", str(proc.pid)], check=True, capture_output=True)

    def watch(path, seconds):
        end = time.monotonic() + seconds
        with urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=auth), timeout=30) as r:
            while time.monotonic() < end and r.read1(65536):
                pass

    viewers = [threading.Thread(target=watch, args=(path, 10), daemon=True) for path in ("/stream", "/stream.mp4")]
    for v in viewers:
        v.start()
    rtsp_client = subprocess.Popen(["ffmpeg", "-v", "quiet", "-rtsp_transport", "tcp", "-i", f"rtsp://127.0.0.1:{rtsp}/front",
                                    "-t", "5", "-f", "null", "-"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    get("/api/events", data=json.dumps({"reason": "code order"}).encode())
    end = time.monotonic() + WORKLOAD_SECONDS
    while time.monotonic() < end:
        for path in ("/api/status", "/metrics", "/healthz", "/api/cameras", "/api/timeline", "/api/recordings"):
            get(path)
        time.sleep(1)
    for v in viewers:
        v.join()
    rtsp_client.wait(60)
    subprocess.run(["callgrind_control", "--dump=steady", str(proc.pid)], check=True, capture_output=True)
    proc.terminate()
    proc.wait(120)
    return parse(pathlib.Path(f"{out}.2"), str(binary))


def parse(dump, binary):
    """{function: own instructions} of the functions of `binary` in a callgrind dump (names compressed as `(id) name`)."""
    tables = {"ob": {}, "fn": {}}
    cost = collections.Counter()
    current = {"ob": None, "fn": None}
    call_cost_next = False
    for line in dump.read_text(errors="replace").splitlines():
        m = re.match(r"^(c?)(ob|fn)=(?:\((\d+)\))?\s*(.*)$", line)
        if m:
            called, kind, ident, name = m.groups()
            if ident:
                name = tables[kind].setdefault(ident, name) if name else tables[kind].get(ident, "")
            if not called:
                current[kind] = name
        elif line.startswith("calls="):
            call_cost_next = True  # the next cost line is the call's inclusive cost, not the function's own
        elif line[:1].isdigit() or line[:1] in "+-*":
            if call_cost_next:
                call_cost_next = False
            elif current["ob"] == binary and current["fn"]:
                fields = line.split()
                cost[current["fn"]] += int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else 0
    return cost


def main():
    if not pathlib.Path(BIN).exists():
        sys.exit(f"code-order: {BIN} does not exist; build the package's binary first (make deb)")
    with tempfile.TemporaryDirectory(prefix="code-order-") as folder:
        work = pathlib.Path(folder)
        binary = work / "blackbox"
        # valgrind 3.19 cannot read the DWARF of a Swift binary; the symbol table is all it needs here.
        subprocess.run(["objcopy", "--strip-debug", BIN, str(binary)], check=True)
        total = collections.Counter()
        for codec in ("h264", "mjpeg"):
            run = functions_run(binary, work, codec)
            print(f"{codec}: {len(run)} functions of the binary ran after start-up")
            total.update(run)
    # callgrind marks a recursive call's frames name'2; a function without a symbol is only its address.
    merged = collections.Counter()
    for name, instructions in total.items():
        merged[re.sub(r"'\d+$", "", name)] += instructions
    ordered = [name for name, _ in sorted(merged.items(), key=lambda item: (-item[1], item[0]))
               if name and " " not in name and not name.startswith("0x")]
    OUT.write_text("# Written by scripts/code-order.py: the functions a started daemon runs, the most used first (lld's\n"
                   "# --symbol-ordering-file, in make-deb.sh). Generated; run the script again rather than editing it.\n"
                   + "\n".join(ordered) + "\n")
    print(f"{OUT.relative_to(ROOT)}: {len(ordered)} functions")


if __name__ == "__main__":
    main()
