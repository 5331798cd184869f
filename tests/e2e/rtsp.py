"""A small RTSP client for the tests that need to see the protocol itself: which authentication is offered and
accepted (Basic, Digest), the SDP, and the RTP and RTCP packets over TCP (interleaved). Players such as ffmpeg,
GStreamer and VLC are the real clients elsewhere; they do not show the headers or the sender reports."""
import base64
import hashlib
import re
import socket
import struct
import time


class RTSPError(Exception):
    pass


class Client:
    """One RTSP connection to `host`:`port`."""

    def __init__(self, host, port, path, user=None, password=None, scheme="digest", timeout=10, source=None):
        self.sock = socket.create_connection((host, port), timeout=timeout, source_address=(source, 0) if source else None)
        self.url = f"rtsp://{host}:{port}/{path}"
        self.user, self.password, self.scheme = user, password, scheme
        self.cseq = 0
        self.buffer = b""
        self.session = None
        self.challenge = None
        self.offered = []

    def close(self):
        self.sock.close()

    def _authorization(self, method, url):
        if self.user is None or self.challenge is None:
            return None
        if self.scheme == "basic":
            return "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        realm, nonce = self.challenge
        ha1 = hashlib.md5(f"{self.user}:{realm}:{self.password}".encode()).hexdigest()
        ha2 = hashlib.md5(f"{method}:{url}".encode()).hexdigest()
        response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
        return f'Digest username="{self.user}", realm="{realm}", nonce="{nonce}", uri="{url}", response="{response}"'

    def _read_response(self):
        """The next RTSP response (interleaved packets before it are skipped)."""
        while True:
            while self.buffer[:1] == b"$":
                if len(self.buffer) < 4:
                    self._fill()
                    continue
                size = struct.unpack(">H", self.buffer[2:4])[0]
                while len(self.buffer) < 4 + size:
                    self._fill()
                self.buffer = self.buffer[4 + size:]
            end = self.buffer.find(b"\r\n\r\n")
            if end >= 0 and not self.buffer.startswith(b"$"):
                head = self.buffer[:end].decode()
                lines = head.split("\r\n")
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers.setdefault(name.strip().lower(), []).append(value.strip())
                length = int(headers.get("content-length", ["0"])[0])
                while len(self.buffer) < end + 4 + length:
                    self._fill()
                body = self.buffer[end + 4:end + 4 + length].decode()
                self.buffer = self.buffer[end + 4 + length:]
                status = int(lines[0].split()[1])
                return status, headers, body
            self._fill()

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise RTSPError("connection closed")
        self.buffer += data

    def request(self, method, url=None, headers=None):
        """Sends a request, answering one authentication challenge; returns (status, headers, body)."""
        url = url or self.url
        for attempt in range(2):
            self.cseq += 1
            lines = [f"{method} {url} RTSP/1.0", f"CSeq: {self.cseq}", "User-Agent: blackbox-tests"]
            if self.session:
                lines.append(f"Session: {self.session}")
            auth = self._authorization(method, url)
            if auth:
                lines.append(f"Authorization: {auth}")
            lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
            self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            status, response_headers, body = self._read_response()
            if status == 401 and attempt == 0 and self.user is not None:
                self.offered = response_headers.get("www-authenticate", [])
                digest = next((h for h in self.offered if h.lower().startswith("digest")), None)
                if self.scheme == "digest":
                    if digest is None:
                        return status, response_headers, body
                    realm = re.search(r'realm="([^"]*)"', digest).group(1)
                    nonce = re.search(r'nonce="([^"]*)"', digest).group(1)
                    self.challenge = (realm, nonce)
                else:
                    self.challenge = ("", "")
                continue
            if status == 401:
                self.offered = response_headers.get("www-authenticate", [])
            return status, response_headers, body
        return status, response_headers, body

    def describe(self):
        status, headers, body = self.request("DESCRIBE", headers={"Accept": "application/sdp"})
        if status != 200:
            raise RTSPError(f"DESCRIBE answered {status}")
        base = headers.get("content-base", [self.url + "/"])[0]
        control = re.search(r"a=control:(\S+)", body.split("m=video", 1)[1]).group(1)
        self.track = control if control.startswith("rtsp://") else base.rstrip("/") + "/" + control
        return body

    def play_tcp(self):
        """SETUP (RTP over the RTSP connection, channels 0 and 1) and PLAY; returns the time PLAY was answered."""
        status, headers, _ = self.request("SETUP", self.track, {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"})
        if status != 200:
            raise RTSPError(f"SETUP answered {status}")
        self.session = headers["session"][0].split(";")[0]
        status, _, _ = self.request("PLAY", self.url, {"Range": "npt=0.000-"})
        if status != 200:
            raise RTSPError(f"PLAY answered {status}")
        return time.time()

    def packets(self, seconds):
        """(channel, payload, arrival time) of the interleaved packets for `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            while len(self.buffer) < 4 or len(self.buffer) < 4 + struct.unpack(">H", self.buffer[2:4])[0]:
                self._fill()
            if self.buffer[:1] != b"$":
                self._read_response()
                continue
            channel = self.buffer[1]
            size = struct.unpack(">H", self.buffer[2:4])[0]
            payload = self.buffer[4:4 + size]
            self.buffer = self.buffer[4 + size:]
            yield channel, payload, time.time()


def sender_reports(payload):
    """(NTP time as Unix seconds, RTP timestamp) of each RTCP sender report in a compound packet."""
    reports = []
    offset = 0
    while offset + 4 <= len(payload):
        packet_type = payload[offset + 1]
        length = (struct.unpack(">H", payload[offset + 2:offset + 4])[0] + 1) * 4
        if packet_type == 200:
            seconds, fraction, rtp = struct.unpack(">IIII", payload[offset + 8:offset + 24])[:3]
            reports.append((seconds - 2208988800 + fraction / 2**32, rtp))
        offset += length
    return reports


def starts_keyframe(payload):
    """Whether an H.264 RTP packet begins a keyframe: an IDR slice or SPS alone, in a STAP-A, or the start of an FU-A."""
    if len(payload) < 14:
        return False
    first = payload[12] & 0x1F
    if first in (5, 7):
        return True
    if first == 24:  # STAP-A: the first aggregated NAL unit's type
        return len(payload) > 15 and payload[15] & 0x1F in (5, 7)
    if first == 28:  # FU-A: start bit and the original type
        return payload[13] & 0x80 != 0 and payload[13] & 0x1F in (5, 7)
    return False


def first_keyframe_seconds(host, port, path, user, password, seconds=5):
    """Seconds from opening the connection to the first RTP packet of a keyframe; None when none came."""
    started = time.time()
    c = Client(host, port, path, user, password)
    try:
        c.describe()
        c.play_tcp()
        for channel, payload, at in c.packets(seconds):
            if channel == 0 and starts_keyframe(payload):
                return at - started
    finally:
        c.close()
    return None


if __name__ == "__main__":
    # For a client on another (network-namespace) host: python rtsp.py HOST PORT PATH USER PASSWORD
    import sys

    print(first_keyframe_seconds(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]))
