"""A minimal multipart/x-mixed-replace reader over http.client (a real HTTP/1.1 client)."""
import http.client
import io
import urllib.parse

from PIL import Image


class MJPEGStream:
    """Reads JPEG parts from a live stream URL."""

    def __init__(self, base, path, timeout=10, headers=None):
        from conftest import AUTH
        url = urllib.parse.urlsplit(base)
        self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
        if headers is None:
            headers = {"Authorization": AUTH[url.port]} if url.port in AUTH else {}
        self.conn.request("GET", path, headers=headers)
        self.response = self.conn.getresponse()
        self.content_type = self.response.getheader("Content-Type", "")
        boundary = self.content_type.split("boundary=", 1)[1] if "boundary=" in self.content_type else None
        self.boundary = boundary

    def _line(self):
        line = self.response.readline()
        if not line:
            raise EOFError("stream ended")
        return line.rstrip(b"\r\n")

    def next_part(self):
        """Returns (headers, jpeg bytes) of the next part, checking the framing on the way."""
        line = self._line()
        while line == b"":
            line = self._line()
        assert line == b"--" + self.boundary.encode(), f"expected boundary, got {line!r}"
        headers = {}
        while True:
            line = self._line()
            if line == b"":
                break
            name, value = line.decode().split(":", 1)
            headers[name.strip().lower()] = value.strip()
        length = int(headers["content-length"])
        body = self.response.read(length)
        assert len(body) == length, f"short part: {len(body)} of {length}"
        assert self.response.read(2) == b"\r\n", "part not followed by CRLF"
        return headers, body

    def close(self):
        self.conn.close()


def decode_jpeg(data):
    """Fully decodes a JPEG (raises on damage) and returns the image."""
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9", "not a complete JPEG"
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    image.load()
    return image
