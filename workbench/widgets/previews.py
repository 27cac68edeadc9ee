"""Preview images for the canvas: downscaled to at most ``MAX_SIDE`` px and encoded as PNG
bytes (sent as message buffers, never base64 in JSON)."""

from __future__ import annotations

import io
import os
from typing import Any

from PIL import Image

from nodes import folders

MAX_SIDE = 512
MAX_IMAGES = 16  # per message: a batch of 64 previews shows its first 16


def to_pil(value: Any) -> Image.Image | None:
    """A PIL image of a preview value: an IMAGE tensor ([B,]H,W,C in 0..1; its first image),
    a PIL image, or ComfyUI's ``(format, image, max_size)`` tuple; None otherwise."""
    if isinstance(value, Image.Image):
        return value
    if isinstance(value, tuple) and len(value) >= 2 and isinstance(value[1], Image.Image):
        return value[1]
    shape = getattr(value, "shape", None)
    if shape is None or len(shape) not in (3, 4):
        return None
    tensor = value[0] if len(shape) == 4 else value
    if tensor.shape[-1] not in (1, 3, 4):
        return None
    array = (tensor.detach().float().clamp(0, 1) * 255).round().byte().cpu().numpy()
    if array.shape[-1] == 1:
        array = array[..., 0]
    return Image.fromarray(array)


def encode(picture: Image.Image) -> bytes:
    """PNG bytes of ``picture``, its longer side at most ``MAX_SIDE`` px."""
    if max(picture.size) > MAX_SIDE:
        picture = picture.copy()
        picture.thumbnail((MAX_SIDE, MAX_SIDE))
    if picture.mode not in ("RGB", "RGBA", "L"):
        picture = picture.convert("RGBA")
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def output_images(ui: dict) -> list[bytes]:
    """The images an output node reported (``ui["images"]``: files in the output or temp
    folder), read and encoded; a file that cannot be read is skipped."""
    encoded = []
    for entry in (ui.get("images") or [])[:MAX_IMAGES]:
        if not isinstance(entry, dict):
            continue
        kind = entry.get("type") if entry.get("type") in ("output", "temp", "input") else "output"
        name = os.path.join(str(entry.get("subfolder") or ""), str(entry.get("filename") or ""))
        try:
            path = folders.resolve(name, kind)  # refuses names reaching out of the folder
            with Image.open(path) as picture:
                if picture.format == "PNG" and max(picture.size) <= MAX_SIDE:
                    picture.close()
                    with open(path, "rb") as f:  # small enough already: sent as it is
                        encoded.append(f.read(8 * 2**20))
                    continue
                picture.draft("RGB", (MAX_SIDE, MAX_SIDE))
                if picture.width * picture.height > 64 * 2**20:
                    continue
                encoded.append(encode(picture.copy()))
        except Exception:
            continue
    return encoded
