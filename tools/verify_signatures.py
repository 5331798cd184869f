#!/usr/bin/env python3
"""Verify Blackbox's signed recordings without the daemon.

An independent check of the format in docs/SIGNING.md: it needs only Python 3 and the widely used
`cryptography` package (Debian: python3-cryptography; pip: cryptography), so a third party need not
trust the recorder's own binary.

    python3 tools/verify_signatures.py --key recorder.pem FILE.mp4 [FILE.mp4 ...]

Exit status 0 when every file is intact (or only cut by a power loss), 1 otherwise.
"""
import argparse
import hashlib
import struct
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key, Encoding, PublicFormat

SIGNATURE_UUID = bytes.fromhex("5bc024620aaf4f7a8140075bd2672694")
TRIMMED_UUID = bytes.fromhex("3cbf6ca2c6574df8b63b73146a3fffb8")  # a fragment an export cut at a frame
DOMAIN = b"blackbox-chain-v1"
MP4_EPOCH_OFFSET = 2_082_844_800  # seconds from 1904-01-01 to 1970-01-01


def boxes(data, start, end):
    """(type, body_start, box_end, box_start) of each box in data[start:end]; stops at a cut-off box."""
    i = start
    while i + 8 <= end:
        size, kind = struct.unpack(">I4s", data[i:i + 8])
        header = 8
        if size == 1:
            if i + 16 > end:
                return
            size = struct.unpack(">Q", data[i + 8:i + 16])[0]
            header = 16
        elif size == 0:
            size = end - i
        if size < header or i + size > end:
            return
        yield kind.decode("latin-1"), i + header, i + size, i
        i += size


def parse_trun(data, body, end, moof_start):
    flags = struct.unpack(">I", data[body:body + 4])[0] & 0xFFFFFF
    count = struct.unpack(">I", data[body + 4:body + 8])[0]
    i = body + 8
    data_offset = 0
    if flags & 0x1:
        data_offset = struct.unpack(">i", data[i:i + 4])[0]
        i += 4
    if flags & 0x4:
        i += 4
    samples = []
    for _ in range(count):
        duration = size = 0
        sync = True
        if flags & 0x100:
            duration = struct.unpack(">I", data[i:i + 4])[0]; i += 4
        if flags & 0x200:
            size = struct.unpack(">I", data[i:i + 4])[0]; i += 4
        if flags & 0x400:
            sync = (struct.unpack(">I", data[i:i + 4])[0] >> 16) & 1 == 0; i += 4
        if flags & 0x800:
            i += 4
        samples.append((duration, size, sync))
    return moof_start + data_offset, samples


def read_file(path):
    """The file's creation time, its fragments (samples, sample bytes, link box body) and trailing bytes."""
    with open(path, "rb") as f:
        data = f.read()
    creation = None
    fragments = []
    pending = None
    valid_end = 0
    for kind, body, end, start in boxes(data, 0, len(data)):
        if kind == "moov":
            valid_end = end
            for k, b, e, _ in boxes(data, body, end):
                if k == "mvhd":
                    version = data[b]
                    created = struct.unpack(">Q", data[b + 4:b + 12])[0] if version == 1 else struct.unpack(">I", data[b + 4:b + 8])[0]
                    creation = created - MP4_EPOCH_OFFSET
        elif kind == "moof":
            # Every track's run (the picture's first, then the sound's), signed in that order, bytes back to back.
            pending = []
            for k, b, e, _ in boxes(data, body, end):
                if k == "traf":
                    for k2, b2, e2, _ in boxes(data, b, e):
                        if k2 == "trun":
                            pending.append(parse_trun(data, b2, e2, start))
        elif kind == "mdat" and pending:
            offset, samples = pending[0][0], [s for _, run in pending for s in run]
            in_place = all(o == pending[0][0] + sum(s[1] for _, r in pending[:i] for s in r) for i, (o, _) in enumerate(pending))
            pending = None
            payload = sum(s[1] for s in samples)
            if offset != body or payload != end - body or not in_place:
                raise ValueError(f"{path}: a fragment's sample sizes do not match its mdat")
            fragments.append({"samples": samples, "data": data[body:end], "link": None, "trim": None, "end": end})
            valid_end = end
        elif kind == "uuid" and fragments and fragments[-1]["end"] == start and data[body:body + 16] == SIGNATURE_UUID:
            fragments[-1]["link"] = data[body + 16:end]
            valid_end = end
        elif kind == "uuid" and fragments and fragments[-1]["end"] == start and data[body:body + 16] == TRIMMED_UUID:
            raw = data[body + 16:end]
            first_kept, original, removed = struct.unpack(">III", raw[1:13])
            rows = [raw[13 + 41 * i:13 + 41 * i + 9] for i in range(removed)]
            hashes = [raw[13 + 41 * i + 9:13 + 41 * (i + 1)] for i in range(removed)]
            fragments[-1]["trim"] = {"first_kept": first_kept, "original": original, "rows": rows, "hashes": hashes}
            fragments[-1]["link"] = raw[13 + 41 * removed:]
            valid_end = end
        elif kind in ("free", "skip") and valid_end == start:
            valid_end = end  # padding right after what is valid (the recorder pads each fragment to whole blocks)
    return creation, fragments, len(data) - valid_end


def parse_link(raw):
    """The fields of a stored chain link (docs/SIGNING.md), or None."""
    if len(raw) < 123 + 128 or raw[0] != 1:
        return None
    id_length = raw[122]
    if len(raw) != 123 + id_length + 128:
        return None
    signed = raw[:123 + id_length]
    rest = raw[123 + id_length:]
    index, wall = struct.unpack(">Qq", raw[1:17])
    timescale, count = struct.unpack(">II", raw[18:26])
    return {
        "signed": signed, "index": index, "wall_ns": wall, "synced": raw[17] & 1 == 1, "gps_checked": raw[17] & 2 == 2, "timescale": timescale, "count": count,
        "table": raw[26:58], "data": raw[58:90], "previous": raw[90:122], "chain_id": raw[123:123 + id_length].decode("utf-8", "replace"),
        "chain": rest[:32], "key": rest[32:64], "signature": rest[64:128],
    }


def fingerprint(raw_key):
    h = hashlib.sha256(raw_key).hexdigest()[:32]
    return "SHA256:" + ":".join(h[i:i + 4] for i in range(0, 32, 4))


def verify(path, expected_key):
    """(verdict, findings, first link, last link) of one file; verdicts as in docs/SIGNING.md."""
    order = ["unsigned", "other-key", "changed", "broken", "retimed", "cut", "intact"]
    verdict = "intact"
    findings = []

    def found(v, text):
        nonlocal verdict
        if order.index(v) < order.index(verdict):
            verdict = v
        findings.append(text)

    creation, fragments, tail = read_file(path)
    if not any(f["link"] for f in fragments):
        return "unsigned", ["not signed"], None, None
    first = previous = None
    for n, fragment in enumerate(fragments, start=1):
        if fragment["link"] is None:
            if n == len(fragments):
                found("cut", f"fragment {n} (the last) is unsigned: cut by a power loss")
            else:
                found("changed", f"fragment {n} is not signed")
            continue
        link = parse_link(fragment["link"])
        if link is None:
            found("changed", f"fragment {n}: unreadable chain link")
            continue
        if hashlib.sha256(DOMAIN + link["signed"]).digest() != link["chain"]:
            found("changed", f"fragment {n}: its chain link was altered")
            continue
        try:
            Ed25519PublicKey.from_public_bytes(link["key"]).verify(link["signature"], link["chain"])
        except InvalidSignature:
            found("changed", f"fragment {n}: the signature does not match")
            continue
        wanted = expected_key if expected_key is not None else (first["key"] if first else link["key"])
        if link["key"] != wanted:
            found("other-key", f"fragment {n} is signed by another key ({fingerprint(link['key'])}, expected {fingerprint(wanted)})")
        if first is None:
            first = dict(link)
            if fragment["trim"]:
                # An export's first fragment starts later than signed, by the frames cut before it.
                cut = sum(struct.unpack(">I", row[:4])[0] for row in fragment["trim"]["rows"][:fragment["trim"]["first_kept"]])
                first["wall_ns"] += cut * 1_000_000_000 // max(1, link["timescale"])
        rows = [struct.pack(">IIB", d, s, 1 if k else 0) for d, s, k in fragment["samples"]]
        sample_hashes, offset = [], 0
        for _, size, _ in fragment["samples"]:
            sample_hashes.append(hashlib.sha256(fragment["data"][offset:offset + size]).digest())
            offset += size
        trim = fragment["trim"]
        if trim:
            # An export may cut the start of its first fragment and the end of its last: the kept frames are
            # checked with the rows and hashes of those left out.
            before, after = trim["first_kept"], len(trim["rows"]) - trim["first_kept"]
            if (before and n != 1) or (after and n != len(fragments)):
                found("changed", f"fragment {n}: frames were cut from inside the recording")
            else:
                findings.append(f"fragment {n}: cut by an export to frames {before + 1}-{before + len(rows)} of its {trim['original']}")
            rows = trim["rows"][:before] + rows + trim["rows"][before:]
            sample_hashes = trim["hashes"][:before] + sample_hashes + trim["hashes"][before:]
        if len(rows) != link["count"]:
            found("changed", f"fragment {n}: {len(rows)} samples, {link['count']} were signed")
        elif hashlib.sha256(b"".join(rows)).digest() != link["table"]:
            found("changed", f"fragment {n}: sample timing, sizes or key flags changed since signing")
        if hashlib.sha256(b"".join(sample_hashes)).digest() != link["data"]:
            found("changed", f"fragment {n}: sample data changed since signing")
        if previous is not None:
            if link["chain_id"] != previous["chain_id"]:
                found("broken", f"fragment {n} belongs to chain '{link['chain_id']}', the one before to '{previous['chain_id']}' (spliced)")
            elif link["index"] == previous["index"] + 1 and link["previous"] == previous["chain"]:
                pass
            elif link["index"] > previous["index"] + 1:
                found("broken", f"{link['index'] - previous['index'] - 1} fragments missing before fragment {n}")
            elif link["index"] <= previous["index"]:
                found("broken", f"fragment {n} is out of order (chain index {link['index']} after {previous['index']})")
            else:
                found("broken", f"fragment {n} does not follow the fragment before it")
        elif "/event/" in link["chain_id"] and link["index"] > 0:
            found("broken", f"{link['index']} fragments missing at the start of the clip")
        previous = link
    if first is not None and creation is not None and abs(creation - first["wall_ns"] // 1_000_000_000) > 2:
        found("retimed", f"re-timed: the file says it starts at {creation}, its signed start is {first['wall_ns'] // 1_000_000_000} (Unix seconds)")
    if tail:
        found("cut", f"{tail} bytes after the last whole fragment: cut by a power loss")
    return verdict, findings, first, previous


def load_key(text):
    text = text.strip()
    if text.startswith("-----BEGIN PUBLIC KEY-----"):
        key = load_pem_public_key(text.encode())
        return key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    import base64
    raw = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text)
    if len(raw) != 32:
        raise ValueError("not an Ed25519 public key")
    return raw


def main():
    parser = argparse.ArgumentParser(description="Verify Blackbox's signed recordings (docs/SIGNING.md).")
    parser.add_argument("--key", help="the recorder's public key: a PEM file (from `blackbox key --export`), or the key in base64 or hex")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    expected = None
    if args.key:
        try:
            with open(args.key) as f:
                expected = load_key(f.read())
        except FileNotFoundError:
            expected = load_key(args.key)
    bad = 0
    for path in args.files:
        try:
            verdict, findings, first, _ = verify(path, expected)
        except (OSError, ValueError) as e:
            verdict, findings, first = "changed", [str(e)], None
        signer = f" by {fingerprint(first['key'])}, chain '{first['chain_id']}'" if first else ""
        print(f"{verdict.upper():10} {path}{signer}")
        for finding in findings:
            print(f"           {finding}")
        if verdict not in ("intact", "cut"):
            bad += 1
    print(f"{len(args.files)} files checked, {bad} not intact")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
