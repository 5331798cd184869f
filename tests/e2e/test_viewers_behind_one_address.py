"""A wall of screens behind a reverse proxy or a NAT reloads: 100 MJPEG viewers connect at the same moment from one
address, and every one of them gets the live picture. The per-address cap against idle sockets (the flood test's
slowloris defence) spares connections younger than a second, whose request may still be unread in the socket."""
import threading

from conftest import Daemon
from helpers import camera_status
from mjpeg import MJPEGStream, decode_jpeg

VIEWERS = 100


def test_a_hundred_mjpeg_viewers_from_one_address_all_get_the_stream():
    # The product's defaults (H.264 recording, JPEGs on demand for viewers), at a small size for the test's speed.
    d = Daemon("--camera", "front=testpattern:320x240@10")
    try:
        ready = threading.Barrier(VIEWERS)
        outcome = {}

        def watch(i):
            try:
                ready.wait(30)
                stream = MJPEGStream(d.base, "/stream", timeout=20)
                try:
                    assert stream.response.status == 200, f"status {stream.response.status}"
                    parts = [stream.next_part()[1] for _ in range(3)]
                    decode_jpeg(parts[-1])
                    outcome[i] = "ok"
                finally:
                    stream.close()
            except Exception as error:  # noqa: BLE001 (every viewer's own failure is reported)
                outcome[i] = f"{type(error).__name__}: {error}"

        threads = [threading.Thread(target=watch, args=(i,)) for i in range(VIEWERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        failed = {i: why for i, why in outcome.items() if why != "ok"}
        assert len(outcome) == VIEWERS and not failed, f"{VIEWERS - len(outcome)} viewers unfinished, failed: {failed}"
        # The camera went on recording meanwhile.
        assert camera_status(d)["recording"]["framesWritten"] > 0
    finally:
        code = d.stop()
    assert code == 0, d.output()
