"""Reads the text Blackbox burns into pictures (its 5x7 bitmap font), so tests check what a viewer sees:
the overlay clock, the camera label, the NO SIGNAL card. The glyphs are stated here, not taken from the
product, so a wrong or missing drawing fails."""
import time

GLYPHS = {
    "0": [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E], "1": [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
    "2": [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F], "3": [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
    "4": [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02], "5": [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
    "6": [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E], "7": [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
    "8": [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E], "9": [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
    "A": [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11], "C": [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
    "E": [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F], "F": [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
    "G": [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F], "I": [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
    "K": [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11], "L": [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
    "N": [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11], "O": [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
    "R": [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11], "S": [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
    "T": [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04], "U": [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
    "-": [0, 0, 0, 0x1F, 0, 0, 0], ":": [0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0], ".": [0, 0, 0, 0, 0, 0x0C, 0x0C],
    " ": [0, 0, 0, 0, 0, 0, 0],
}
ADVANCE = 6  # font pixels from one glyph to the next


def _bits(pixel, x, y, scale):
    rows = []
    for row in range(7):
        value = 0
        for col in range(5):
            value = value << 1 | (1 if pixel(x + col * scale + scale // 2, y + row * scale + scale // 2) > 128 else 0)
        rows.append(value)
    return rows


def read_text(pixel, x, y, scale, count):
    """The `count` characters drawn from (x, y) at `scale`; `pixel(x, y)` gives a grey level. A cell that is no
    known glyph (more than 3 of its 35 dots wrong: JPEG and H.264 blur edges) reads as "?"."""
    text = ""
    for i in range(count):
        bits = _bits(pixel, x + i * ADVANCE * scale, y, scale)
        best = min(GLYPHS, key=lambda c: sum(bin(a ^ b).count("1") for a, b in zip(GLYPHS[c], bits)))
        text += best if sum(bin(a ^ b).count("1") for a, b in zip(GLYPHS[best], bits)) <= 3 else "?"
    return text


def image_pixel(image):
    """`pixel(x, y)` for a PIL image, in grey."""
    grey = image.convert("L")
    return lambda x, y: grey.getpixel((x, y))


def raw_pixel(gray, stride):
    """`pixel(x, y)` for raw 8-bit grey bytes with `stride` bytes per row."""
    return lambda x, y: gray[y * stride + x]


def clock_scale(height):
    """The overlay's scale: one font pixel per 240 picture rows, at least 1."""
    return max(1, height // 240)


def clock_box(height):
    """(width, rows) of the picture's top-left corner that holds the overlay's date and clock."""
    s = clock_scale(height)
    return 3 * s + 23 * ADVANCE * s, 10 * s


def overlay_text(pixel, height, count=23):
    """The overlay's first `count` characters ("YYYY-MM-DD HH:MM:SS.mmm" and then the label) of a picture."""
    s = clock_scale(height)
    return read_text(pixel, 3 * s, 3 * s, s, count)


def overlay_clock(pixel, height):
    """Seconds since local midnight printed by the overlay, or None when it does not read as a clock."""
    text = overlay_text(pixel, height)[11:]
    if "?" in text or len(text) != 12 or text[2] != ":" or text[5] != ":" or text[8] != ".":
        return None
    try:
        return int(text[0:2]) * 3600 + int(text[3:5]) * 60 + float(text[6:])
    except ValueError:
        return None


def local_seconds(now):
    """Seconds since local midnight of the epoch time `now`."""
    t = time.localtime(now)
    return t.tm_hour * 3600 + t.tm_min * 60 + t.tm_sec + now % 1


def no_signal_title(image):
    """The big title of the NO SIGNAL card, read where the daemon centres it ("NO SIGNAL" when shown)."""
    width, height = image.size
    scale = max(2, height // 40)
    text_width = (9 * ADVANCE - 1) * scale
    return read_text(image_pixel(image), (width - text_width) // 2, height // 2 - 7 * scale - scale * 2, scale, 9)
