"""Resizing images the way ComfyUI's nodes do (its ``common_upscale``).

Several nodes resize: ImageScale/ImageScaleBy (the user picks the method),
ImageBlend and ImageBatch (fit the second image to the first), ImageStitch
(match sizes). They share one function so the method names mean the same thing
everywhere: ``nearest-exact``, ``bilinear``, ``area`` and ``bicubic`` are
``torch.nn.functional.interpolate``'s modes (no antialiasing, ``align_corners``
False), ``lanczos`` is PIL's Lanczos filter. Crop ``"center"`` first cuts the
source to the target's aspect ratio, keeping the middle.

Deliberate difference: ComfyUI's ``lanczos`` goes through 8-bit PIL images, so
its output is quantized to multiples of 1/255; here PIL filters each channel as
32-bit float, so values keep full precision (and any channel count works).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

UPSCALE_METHODS = ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]
CROP_METHODS = ["disabled", "center"]
MAX_RESOLUTION = 16384  # ComfyUI's bound for width/height widgets


def center_crop(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Cut ``samples`` ``[B,C,H,W]`` to the aspect ratio of ``width``×``height``, centred."""
    old_height, old_width = samples.shape[-2], samples.shape[-1]
    old_aspect = old_width / old_height
    new_aspect = width / height
    x = y = 0
    if old_aspect > new_aspect:
        x = round((old_width - old_width * (new_aspect / old_aspect)) / 2)
    elif old_aspect < new_aspect:
        y = round((old_height - old_height * (old_aspect / new_aspect)) / 2)
    return samples.narrow(-2, y, old_height - y * 2).narrow(-1, x, old_width - x * 2)


def common_upscale(
    samples: torch.Tensor, width: int, height: int, method: str, crop: str = "disabled"
) -> torch.Tensor:
    """Resize channel-first ``samples`` ``[B,C,H,W]`` to ``height``×``width``."""
    if method not in UPSCALE_METHODS:
        raise ValueError(f"unknown upscale method {method!r}: expected one of {UPSCALE_METHODS}")
    if crop == "center":
        samples = center_crop(samples, width, height)
    elif crop != "disabled":
        raise ValueError(f"unknown crop {crop!r}: expected one of {CROP_METHODS}")
    if method == "lanczos":
        return lanczos(samples, width, height)
    return F.interpolate(samples, size=(height, width), mode=method)


def lanczos(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """PIL's Lanczos resize of ``[B,C,H,W]``, channel by channel in float32, clamped to 0..1.

    Lanczos rings: next to a sharp edge it over- and undershoots. ComfyUI's 8-bit
    round trip clips that to 0..255; the float path has to clamp explicitly.
    """
    array = samples.detach().to("cpu", torch.float32).numpy()
    out = np.empty((*array.shape[:2], height, width), dtype=np.float32)
    for b in range(array.shape[0]):
        for c in range(array.shape[1]):
            channel = Image.fromarray(np.ascontiguousarray(array[b, c]))  # float32 → mode "F"
            out[b, c] = np.asarray(channel.resize((width, height), Image.Resampling.LANCZOS))
    return torch.from_numpy(out).clamp_(0, 1).to(samples.device, samples.dtype)


def resize_image(
    image: torch.Tensor, width: int, height: int, method: str, crop: str = "disabled"
) -> torch.Tensor:
    """``common_upscale`` for an IMAGE ``[B,H,W,C]``."""
    return common_upscale(image.movedim(-1, 1), width, height, method, crop).movedim(1, -1)
