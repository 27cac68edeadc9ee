"""The ``comfy.utils`` stand-in: ``ProgressBar`` onto ``engine.progress``, and resizing helpers.

``ProgressBar(total)`` reports the progress of the node whose code creates it
(ComfyUI's ``node_id`` argument is accepted and not needed): each ``update``
is an ``engine.progress.update``, so it reaches the run's event bus as a
``progress`` event, previews included, and raises ``InterruptProcessing`` if
the user interrupted the run. A preview may be an IMAGE tensor, a PIL image,
or ComfyUI's ``(format, PIL image, max size)`` tuple.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from engine import progress
from nodes.image import repeat_to_batch_size
from nodes.resize import common_upscale, lanczos

__all__ = [
    "PROGRESS_BAR_ENABLED",
    "ProgressBar",
    "common_upscale",
    "lanczos",
    "repeat_to_batch_size",
]

PROGRESS_BAR_ENABLED = True


class ProgressBar:
    def __init__(self, total: float, node_id: str | None = None):
        self.total = total
        self.current = 0
        self.node_id = node_id

    def update_absolute(self, value: float, total: float | None = None, preview: Any = None):
        if total is not None:
            self.total = total
        self.current = min(value, self.total)
        progress.update(self.current, self.total, _preview_tensor(preview))

    def update(self, value: float):
        self.update_absolute(self.current + value)


def _preview_tensor(preview: Any) -> torch.Tensor | None:
    """A preview as an IMAGE ``[1,H,W,C]`` in 0..1 (what ``engine.progress`` carries)."""
    if preview is None or isinstance(preview, torch.Tensor):
        return preview
    if isinstance(preview, tuple) and len(preview) >= 2:  # ComfyUI's (format, image, size)
        preview = preview[1]
    try:
        array = np.asarray(preview.convert("RGB"), dtype=np.float32) / 255.0
    except (AttributeError, TypeError, ValueError):
        return None  # not an image: the progress goes out without a preview
    return torch.from_numpy(array)[None]
