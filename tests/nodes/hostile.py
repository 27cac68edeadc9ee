"""Hostile files for the loaders, and a child process with a memory cap to load them in.

A loader that does not bound its memory would take the test process (and the
machine) down with it, so each hostile file is loaded in a child Python whose
address space is capped at what its imports need plus ``HEADROOM``: an
unbounded loader fails there with a ``MemoryError`` (or dies), never here.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib

HEADROOM = 1536 * 2**20  # what a case may allocate above the child's imports

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_CHILD = """
import json, resource, sys
{imports}
# Capped after the imports (torch maps ~650 MB of address space), so the cap
# measures the cases: what they may allocate is HEADROOM.
used = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (used + {headroom}, used + {headroom}))
for case, call in json.loads(sys.argv[1]).items():
    try:
        outcome = {{"type": None, "value": repr(eval(call))}}
    except Exception as exc:
        outcome = {{"type": type(exc).__name__, "message": str(exc)}}
    print(json.dumps({{"case": case, **outcome}}), flush=True)
"""


def run_capped(imports: str, calls: dict[str, str], headroom: int = HEADROOM) -> dict[str, dict]:
    """Evaluate each of ``calls`` (case → Python expression) in one capped child, in order.

    Returns case → ``{"type": exception class name, "message": str(exception)}``,
    or ``{"type": None, "value": repr(result)}``.
    Fails the test if the child itself does not exit normally.
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")])}
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            _CHILD.format(imports=imports, headroom=headroom),
            json.dumps(calls),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )
    assert child.returncode == 0, f"child exited with {child.returncode}:\n{child.stderr[-3000:]}"
    outcomes = {}
    for line in child.stdout.splitlines():
        record = json.loads(line)
        outcomes[record.pop("case")] = record
    assert list(outcomes) == list(calls), child.stderr[-3000:]
    return outcomes


# --- animated images whose frames decode at the full canvas size ---


def gif_bomb(path, frames: int, width: int, height: int) -> None:
    """A GIF of ``frames`` one-pixel frames on a ``width``×``height`` screen (15 bytes a frame)."""
    screen = struct.pack("<HHBBB", width, height, 0x80, 0, 0)  # global table of 2 colours
    out = bytearray(b"GIF89a" + screen + b"\x00\x00\x00\xff\xff\xff")
    for i in range(frames):
        out += b"\x2c" + struct.pack("<HHHHB", i % width, i // width % height, 1, 1, 0)
        out += b"\x02\x02\x44\x01\x00"  # LZW, code size 2: clear, colour 0, end
    out += b"\x3b"
    with open(path, "wb") as f:
        f.write(out)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header(width: int, height: int) -> bytes:
    """A PNG signature and the IHDR of an 8-bit greyscale image of that size."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)


def apng_bomb(path, frames: int, width: int, height: int) -> None:
    """An APNG of ``frames`` one-pixel frames on a ``width``×``height`` canvas."""
    out = bytearray(png_header(width, height))
    out += _chunk(b"acTL", struct.pack(">II", frames, 0))
    rows = zlib.compressobj(9)
    blank = b"".join(rows.compress(bytes(width + 1)) for _ in range(height)) + rows.flush()
    out += _chunk(b"IDAT", blank)  # the default image, not one of the frames
    pixel = zlib.compress(b"\x00\x00")  # one row: filter byte, one grey pixel
    for i in range(frames):
        x, y = i % width, i // width % height
        control = struct.pack(">IIIIIHHBB", 2 * i, 1, 1, x, y, 1, 10, 0, 0)
        out += _chunk(b"fcTL", control)
        out += _chunk(b"fdAT", struct.pack(">I", 2 * i + 1) + pixel)
    out += _chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(out)


def png_bomb(path, width: int, height: int) -> None:
    """A PNG declaring one huge frame (its pixel data is a few zeros)."""
    out = png_header(width, height) + _chunk(b"IDAT", zlib.compress(bytes(64)))
    with open(path, "wb") as f:
        f.write(out + _chunk(b"IEND", b""))


# --- model files ---


def nested_json(depth: int) -> str:
    """A JSON list nested ``depth`` deep: ``[[[...]]]``."""
    return "[" * depth + "]" * depth


def raw_safetensors(path, header: dict, data: bytes) -> None:
    """A safetensors file with exactly this header (shapes and offsets unchecked) and data."""
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)
