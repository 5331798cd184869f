#!/usr/bin/env python3
"""What the whole daemon costs around its encoders, in one run, side by side for both recording codecs: the street clip
re-timed to 720p30 plays through a file: camera, recording with RTSP on and nobody watching; the daemon's CPU per
captured frame (the kernel's count over SECONDS) is divided by the bare encoder's on the same frames (`blackbox bench
--y4m`: one thread, nothing around it), both as a camera gives frames (at the clip's rate, out of the CPU's caches; run
beside the daemon, over the same seconds, so that the machine's speed drifting does not move the ratio) and back to back with each frame just read (the encoder's best case, which no camera gives it); then its resident memory (anonymous and file-backed), the time from start to the
first frame, and the memory again with five MJPEG viewers. With ROUNDS, all of it that many times, and each figure's
median: this machine's figures for one binary move by ±10 % from run to run.
    python3 bench/daemon.py [SECONDS [ROUNDS]]        (BLACKBOX_BIN: the binary; default .build/release/blackbox; the
                                                       package's: .build-deb/release/blackbox)"""
import base64
import json
import os
import pathlib
import queue
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from helpers import cpu_seconds, thread_cpu_seconds  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
BIN = os.environ.get("BLACKBOX_BIN", str(ROOT / ".build" / "release" / "blackbox"))
CLIP = ROOT.parent / "shared" / "fixtures" / "street_768x576_10fps.avi"
SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 30
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 1
if not (SECONDS > 0 and 1 <= ROUNDS <= 20):
    sys.exit(f"daemon.py: SECONDS is {SECONDS} and ROUNDS {ROUNDS}; allowed: SECONDS above 0, ROUNDS 1 to 20")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory(pid):
    """(VmRSS, RssAnon, RssFile) of `pid` in MB."""
    fields = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status"))
    return tuple(int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "RssAnon", "RssFile"))


class Daemon:
    """`blackbox run` recording the clip in `codec`; knows its port, password and when its first frame came."""

    def __init__(self, work, clip, codec, extra=(), rtsp_port=None, source=None, env=None):
        """`source`: another camera source than the clip (`file:CLIP`); `env`: added to the daemon's environment."""
        began = time.monotonic()
        self.proc = subprocess.Popen([BIN, "run", "--host", "127.0.0.1", "--port", "0", "--rtsp-port", str(rtsp_port or free_port()),
                                      "--recordings", str(work / f"rec-{codec}"), "--camera", f"front={source or f'file:{clip}'}",
                                      "--codec", codec, *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                     env=None if env is None else {**os.environ, **env})
        try:
            self._started(began)
        except BaseException:
            self.stop()
            raise

    def _started(self, began):
        # One thread reads every line all along (a pipe nobody reads blocks the daemon's logging); the start lines come
        # through a queue, so none waits unseen in a reader's buffer as after select + readline.
        lines = queue.Queue()

        def read_all():
            for line in self.proc.stdout:
                lines.put(line)
            lines.put("")  # the end of its output

        threading.Thread(target=read_all, daemon=True).start()
        password, self.port = None, None
        while self.port is None:
            try:
                line = lines.get(timeout=max(0.1, began + 30 - time.monotonic()))
            except queue.Empty:
                raise RuntimeError("the daemon did not say where it serves within 30 s") from None
            if not line:
                raise RuntimeError(f"the daemon exited ({self.proc.wait()}) before serving")
            if "generated password for user 'admin': " in line:
                password = line.split("'admin': ", 1)[1].split()[0]
            if "serving http://" in line:
                self.port = int(line.split("http://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
        self.password = password
        self.auth = "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()
        while self.captured() == 0:
            if time.monotonic() - began > 30:
                raise RuntimeError("no frame within 30 s of the start")
            time.sleep(0.005)
        self.first_frame = time.monotonic() - began

    def get(self, path, timeout=10):
        return urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers={"Authorization": self.auth}),
                                      timeout=timeout)

    def captured(self):
        with self.get("/api/status") as r:
            return json.load(r)["cameras"][0]["framesCaptured"]

    def threads_cpu(self, prefix):
        """CPU seconds the daemon's threads named `prefix`… have used."""
        return thread_cpu_seconds(self.proc.pid, lambda name: name.startswith(prefix))

    def written(self):
        """Bytes the daemon has passed to write() and its kin so far (files and sockets)."""
        return int(re.search(r"^wchar: (\d+)", open(f"/proc/{self.proc.pid}/io").read(), re.M).group(1))

    def cpu_per_frame(self, seconds, codec):
        """CPU seconds per captured frame over `seconds`, the frames per second captured, the whole daemon's CPU ÷ its
        own encoder threads' (JPEG: enc-*, H.264: h264-*) over the same seconds (measured at once, so the machine's speed
        drifting between runs does not move it), the camera's thread's (cap-*) and the recorder's (rec-*) ÷ the encoder
        threads' likewise, and the bytes written per frame."""
        encoder = "enc-" if codec == "mjpeg" else "h264-"
        def sample():
            return (cpu_seconds(self.proc.pid), self.threads_cpu(encoder), self.threads_cpu("cap-"), self.threads_cpu("rec-"),
                    self.written(), self.captured())
        before, t0 = sample(), time.monotonic()
        time.sleep(seconds)
        cpu, enc, cam, rec, written, frames = (b - a for a, b in zip(before, sample()))
        wall, frames, nan = time.monotonic() - t0, max(1, frames), float("nan")
        return (cpu / frames, frames / wall, cpu / enc if enc > 0 else nan, cam / enc if enc > 0 else nan,
                rec / enc if enc > 0 else nan, written / frames)

    def recorder_cpu(self):
        """CPU seconds the recorder's threads (rec-*) have used, to the nanosecond (the scheduler's count: a few MB of
        H.264 cost the recorder less than the 10 ms tick that /proc's stat counts in)."""
        total = 0
        for task in pathlib.Path(f"/proc/{self.proc.pid}/task").iterdir():
            try:
                if (task / "comm").read_text().startswith("rec-"):
                    total += int((task / "schedstat").read_text().split()[0])
            except OSError:
                pass
        return total / 1e9

    def recorder_beside_plain_writer(self, folder, seconds):
        """CPU seconds per byte written of the recorder's thread (rec-*) over `seconds`, and the CPU seconds per byte of a
        plain writer of as many bytes a second beside it (`plain_writer`), over the same seconds."""
        written0, t0 = self.written(), time.monotonic()
        time.sleep(2)
        rate = (self.written() - written0) / (time.monotonic() - t0)
        plain = []
        writer = threading.Thread(target=plain_writer, args=(folder, rate, int(seconds), plain))
        rec0, written0 = self.recorder_cpu(), self.written()
        writer.start()
        writer.join()
        rec, written = self.recorder_cpu() - rec0, self.written() - written0
        return rec / max(1, written), plain[0] if plain else float("nan")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def street_720p30(folder):
    """The street clip re-timed to 30 fps and scaled to 1280x720 (10 s), as a Y4M file in `folder` for a file: camera."""
    clip = folder / "street720p30.y4m"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(CLIP), "-vf", "setpts=N/30/TB,scale=1280:720", "-r", "30", "-frames:v", "300",
                    "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", str(clip)], check=True)
    return clip


def plain_writer(folder, rate, seconds, out):
    """Writes `rate` bytes each second into a new file in `folder` for `seconds`, each piece fdatasync'd, as the recorder
    writes a fragment a second, and puts the CPU seconds it took per byte into `out`: what appending to files costs
    this machine in those seconds, whoever writes (on a VM whose host backs the guest's memory only when first touched it
    moves from minute to minute, and is far above what the same write costs on a Pi)."""
    piece, path = os.urandom(max(4096, int(rate))), folder / "plain-writer"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        t, pieces, began = time.thread_time(), 0, time.monotonic()
        while pieces < seconds:
            os.write(fd, piece)
            os.fdatasync(fd)
            pieces += 1
            time.sleep(max(0.0, began + pieces - time.monotonic()))
        out.append((time.thread_time() - t) / (pieces * len(piece)))
    finally:
        os.close(fd)
        os.unlink(path)


def watch_mjpeg(daemon, stop):
    with daemon.get("/stream") as r:
        while not stop.is_set() and r.read1(65536):
            pass


def bare_encoders(work, clip):
    """{codec: (as a camera gives frames, back to back, the bench's recording pipeline)} in seconds of CPU per frame."""
    bench = subprocess.run([BIN, "bench", "--y4m", str(clip), "--output", str(work / "bench")], check=True, capture_output=True, text=True).stdout
    paced = re.search(r"^as a camera gives them .*: mjpeg ([0-9.]+) ms CPU/frame, h264 ([0-9.]+) ms", bench, re.M)
    return {codec: (float(paced.group(1 if codec == "mjpeg" else 2)) / 1000,
                    float(re.search(rf"^{codec}\s+([0-9.]+) ms CPU/frame", bench, re.M).group(1)) / 1000,
                    float(re.search(rf"^{codec}\s+recording pipeline\s+([0-9.]+) ms", bench, re.M).group(1)) / 1000)
            for codec in ("mjpeg", "h264")}


def whole_daemon(work, clip, codec):
    """The daemon recording `codec`: (CPU seconds per frame, fps, RSS, anonymous, file-backed MB, first frame seconds, whole ÷
    own encoder threads, the camera's thread ÷ the encoder threads, the bare encoder's CPU per frame as a camera gives
    frames in the same seconds, the recorder's thread ÷ the encoder threads, the bytes written per frame, the recorder's
    thread's CPU seconds per byte written and a plain writer's beside it (after the rest, so that its writes do not weigh
    on the figures above), and with five MJPEG viewers (RSS, anonymous, file-backed) for H.264, else None)."""
    # A folder of its own each time: a recordings folder that has an account already prints no password.
    folder = pathlib.Path(tempfile.mkdtemp(dir=work))
    daemon = Daemon(folder, clip, codec)
    try:
        time.sleep(5)
        # The bare encoders run beside the daemon, paced as a camera gives frames, over the same seconds: this machine's
        # speed moves by 10-30 % from minute to minute, which moved a ratio of two figures measured a minute apart as much.
        # Together they take about a third of one of its cores.
        bare = subprocess.Popen([BIN, "bench", "--y4m", str(clip), "--paced-only", "--paced-seconds", str(SECONDS)],
                                stdout=subprocess.PIPE, text=True)
        try:
            cpu, fps, own, cam, rec, written = daemon.cpu_per_frame(SECONDS, codec)
            beside = float(re.search(rf"{codec} ([0-9.]+) ms CPU/frame", bare.communicate(timeout=60)[0]).group(1)) / 1000
        finally:
            bare.kill()
            bare.wait()
        figures = (cpu, fps, *memory(daemon.proc.pid), daemon.first_frame, own, cam, beside, rec, written,
                   *daemon.recorder_beside_plain_writer(folder, max(5, SECONDS / 2)))
        viewed = None
        if codec == "h264":
            stop = threading.Event()
            viewers = [threading.Thread(target=watch_mjpeg, args=(daemon, stop), daemon=True) for _ in range(5)]
            for v in viewers:
                v.start()
            time.sleep(10)
            viewed = memory(daemon.proc.pid)
            stop.set()
        return (*figures, viewed)
    finally:
        daemon.stop()


def ratios(bare, whole):
    """The bench's pipeline ÷ its bare encoder (as a camera gives frames, back to back), the daemon ÷ the bare encoder
    (as a camera gives frames, run beside it; back to back): four ratios of one round."""
    (camera, b2b, pipeline), cpu, beside = bare, whole[0], whole[8]
    return pipeline / camera, pipeline / b2b, cpu / beside, cpu / b2b


def row(codec, bare, whole, four):
    """One codec's line of the table, with the ratios `four` (as `ratios` gives them) and the rest of the figures."""
    (camera, b2b, pipeline), (cpu, fps, rss, anon, file, first, own, cam, beside, rec) = bare, whole[:10]
    return (f"{codec:6}{beside * 1000:7.3f} / {camera * 1000:.3f} / {b2b * 1000:.3f} ms{pipeline * 1000:10.3f} ms{four[0]:6.2f} /{four[1]:5.2f}"
            f"{cpu * 1000:9.3f} ms{four[2]:6.2f} /{four[3]:5.2f}{own:6.2f}{cam:6.2f}{rec:6.2f}{fps:6.1f}"
            f"{rss:8.1f}{anon:6.1f}{file:6.1f}{first * 1000:10.0f} ms")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        clip = street_720p30(work)
        print(f"street clip 1280x720@30 (re-timed from 10 fps), file: camera, recording with RTSP on and idle, {SECONDS:.0f} s per codec"
              + (f", {ROUNDS} rounds (each: the bare encoders, then the daemon with each codec); the median of each figure last" if ROUNDS > 1 else ""))
        print("bare encoder: as a camera gives frames (paced, from memory) beside the daemon, in the same seconds / the same "
              "alone, before / back to back, each frame just read; ratios: the bench's pipeline ÷ its bare encoder (alone / back "
              "to back), the daemon ÷ the bare encoder (beside it / back to back); own: the daemon ÷ its own encoder threads, in "
              "the same seconds; cam: the camera's thread ÷ the encoder threads (the file: camera reads each frame with a CPU "
              "copy, which a camera's DMA does not cost; the motion picture's scaling is there too); rec: the recorder's "
              "thread likewise (hashing and writing the recordings)")
        print(f"{'codec':6}{'bare encoder':>25}{'bench pipeline':>15}{'ratios':>12}{'daemon':>12}{'ratios':>12}{'own':>6}{'cam':>6}{'rec':>6}{'fps':>6}"
              f"{'RSS MB':>8}{'anon':>6}{'file':>6}{'first frame':>13}")
        rounds = []
        for n in range(ROUNDS):
            bare = bare_encoders(work, clip)
            whole = {codec: whole_daemon(work, clip, codec) for codec in ("mjpeg", "h264")}
            rounds.append((bare, whole))
            for codec in ("mjpeg", "h264"):
                print(("" if ROUNDS == 1 else f"round {n + 1}: ")
                      + row(codec, bare[codec], whole[codec], ratios(bare[codec], whole[codec])), flush=True)
        if ROUNDS > 1:
            # Each figure's median over the rounds, and each ratio's: a ratio of two medians would pair figures of
            # different rounds.
            print("median of the rounds (the ratios: the median of the rounds' ratios); each ratio's range below")
            for codec in ("mjpeg", "h264"):
                bare = tuple(statistics.median(r[0][codec][i] for r in rounds) for i in range(3))
                whole = tuple(statistics.median(r[1][codec][i] for r in rounds) for i in range(10))
                each = [ratios(r[0][codec], r[1][codec]) for r in rounds]
                print(row(codec, bare, whole, [statistics.median(e[i] for e in each) for i in range(4)]))
                spans = [f"{min(e[i] for e in each):.2f}–{max(e[i] for e in each):.2f}" for i in range(4)]
                print(f"{'':6}ranges: bench pipeline {spans[0]} / {spans[1]}, daemon {spans[2]} / {spans[3]}")
        for codec, name in (("mjpeg", "MJPEG"), ("h264", "H.264")):
            recorder = statistics.median(r[1][codec][11] for r in rounds)
            print(f"recording {name} the daemon wrote {statistics.median(r[1][codec][10] for r in rounds) / 1e3:.1f} KB per frame "
                  f"(recordings, sockets, logs); its recorder's thread took {recorder * 1e9:.2f} ms of CPU per MB (hashing included), "
                  f"a plain writer of as many bytes a second beside it {statistics.median(r[1][codec][12] for r in rounds) * 1e9:.2f} ms (both over the same seconds, after the figures above)")
        viewed = [r[1]["h264"][-1] for r in rounds]
        rss, anon, file = (statistics.median(v[i] for v in viewed) for i in range(3))
        print(f"h264 with 5 MJPEG viewers: RSS {rss:.1f} MB (anonymous {anon:.1f}, file-backed {file:.1f})")


if __name__ == "__main__":
    main()
