"""PNG text chunks, read and written with the standard library (``struct``, ``zlib``).

ComfyUI's SaveImage writes the API prompt and the UI workflow into a PNG as
``tEXt`` chunks named ``prompt`` and ``workflow``; other tools write ``iTXt``
(UTF-8, maybe compressed) or ``zTXt`` (compressed). ``read_png_text`` reads all
three from a file or bytes without touching the pixels: chunks are walked by
their length fields, image data skipped. ``embed_png_text`` writes new text
chunks into an existing PNG, copying every other chunk (and so the pixels) byte
for byte.

Hostile files: a chunk's declared length is checked against what is left, a
text chunk's size and its decompressed size are bounded, the walk stops at
``IEND`` or after ``MAX_CHUNKS``. Problems raise ``PngError`` naming them.
"""

from __future__ import annotations

import io
import struct
import zlib
from typing import BinaryIO

__all__ = ["SIGNATURE", "PngError", "embed_png_text", "is_png", "read_png_text"]

SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_TEXT_BYTES = 64 * 2**20  # one text chunk, compressed or not, and its decompressed text
MAX_TOTAL_TEXT = 128 * 2**20  # all text read from one file
MAX_CHUNKS = 100_000
MAX_PNG_BYTES = 512 * 2**20  # a PNG rewritten by embed_png_text
TEXT_TYPES = (b"tEXt", b"zTXt", b"iTXt")


class PngError(ValueError):
    """Not a PNG, or a PNG whose text chunks cannot be read (the message says why)."""


def is_png(head: bytes) -> bool:
    return head[:8] == SIGNATURE


def read_png_text(source: bytes | BinaryIO) -> dict[str, str]:
    """The text chunks of a PNG, keyword -> text (the first chunk of a keyword wins).

    ``source``: the file's bytes or a binary file open for reading. Chunks
    that cannot be decoded are skipped; a file that is not a PNG, or is cut
    inside a text chunk, raises ``PngError``.
    """
    stream = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    if not is_png(stream.read(8)):
        raise PngError("it is not a PNG file (no PNG signature)")
    texts: dict[str, str] = {}
    total = 0
    for _ in range(MAX_CHUNKS):
        header = stream.read(8)
        if len(header) < 8:
            break  # cut short after the last complete chunk: keep what we have
        length, kind = struct.unpack(">I4s", header)
        if kind == b"IEND":
            break
        if kind not in TEXT_TYPES:
            stream.seek(length + 4, io.SEEK_CUR)
            continue
        if length > MAX_TEXT_BYTES or total + length > MAX_TOTAL_TEXT:
            raise PngError(f"a {kind.decode()} chunk of {length:,} bytes is over the limit")
        data = stream.read(length)
        stream.read(4)  # CRC: a bad one does not make the text unreadable
        if len(data) < length:
            raise PngError(f"the file ends inside a {kind.decode()} chunk")
        decoded = _decode(kind, data)
        if decoded is None:
            continue
        keyword, text = decoded
        total += len(text)
        if total > MAX_TOTAL_TEXT:
            raise PngError("its text chunks hold more than the limit of text")
        texts.setdefault(keyword, text)
    return texts


def _decode(kind: bytes, data: bytes) -> tuple[str, str] | None:
    keyword, sep, rest = data.partition(b"\0")
    if not sep or not keyword:
        return None
    name = keyword.decode("latin-1")
    if kind == b"tEXt":
        return name, rest.decode("latin-1")
    if kind == b"zTXt":
        if not rest or rest[0] != 0:
            return None
        text = _inflate(rest[1:])
        return None if text is None else (name, text.decode("latin-1"))
    if len(rest) < 2:  # iTXt: flag, method, language\0, translated keyword\0, text
        return None
    compressed, method = rest[0], rest[1]
    parts = rest[2:].split(b"\0", 2)
    if len(parts) < 3:
        return None
    body = parts[2]
    if compressed:
        if method != 0:
            return None
        body = _inflate(body)
        if body is None:
            return None
    try:
        return name, body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _inflate(data: bytes) -> bytes | None:
    """zlib data decompressed, or None if broken or bigger than ``MAX_TEXT_BYTES``."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, MAX_TEXT_BYTES + 1)
    except zlib.error:
        return None
    if len(out) > MAX_TEXT_BYTES or inflater.unconsumed_tail:
        raise PngError(f"a compressed text chunk inflates past {MAX_TEXT_BYTES:,} bytes")
    return out


def embed_png_text(png: bytes, texts: dict[str, str]) -> bytes:
    """``png`` with a text chunk per item of ``texts``, replacing chunks of those keywords.

    The new chunks go right after ``IHDR`` (before the image data, where readers
    that stop early still find them): ``tEXt`` for Latin-1 text, ``iTXt`` for
    other text. Every other chunk is copied unchanged.
    """
    if len(png) > MAX_PNG_BYTES:
        raise PngError(f"it is {len(png):,} bytes, more than {MAX_PNG_BYTES:,}")
    if not is_png(png):
        raise PngError("it is not a PNG file (no PNG signature)")
    keywords = {k.encode("latin-1") for k in texts}
    out = [SIGNATURE]
    position = 8
    wrote = False
    while position + 8 <= len(png):
        length, kind = struct.unpack(">I4s", png[position : position + 8])
        end = position + 12 + length
        if end > len(png):
            raise PngError(f"the file ends inside a {kind.decode('latin-1')} chunk")
        chunk = png[position:end]
        position = end
        if kind in TEXT_TYPES and chunk[8:].split(b"\0", 1)[0] in keywords:
            continue  # replaced below
        out.append(chunk)
        if kind == b"IHDR" and not wrote:
            out.extend(_text_chunk(key, text) for key, text in texts.items())
            wrote = True
        if kind == b"IEND":
            break
    if not wrote:
        raise PngError("it has no IHDR chunk")
    return b"".join(out)


def _text_chunk(keyword: str, text: str) -> bytes:
    key = keyword.encode("latin-1")
    try:
        kind, data = b"tEXt", key + b"\0" + text.encode("latin-1")
    except UnicodeEncodeError:
        kind, data = b"iTXt", key + b"\0\0\0\0\0" + text.encode("utf-8")
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
