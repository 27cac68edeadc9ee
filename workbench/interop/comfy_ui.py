"""ComfyUI's V3 ``ui`` outputs (``comfy_api.latest.ui``): what a node shows, as ``NodeOutput(ui=...)``.

Each is turned into the ``ui`` dict of a V1 node's result (``as_dict()``):
images are saved as previews in the temp folder, as ComfyUI's are.
"""

from __future__ import annotations

from typing import Any

from nodes.io import PreviewImage as _Previewer
from nodes.mask import mask_to_image


class _UIOutput:
    """A node's UI output; ``as_dict()`` is the ``ui`` dict."""

    def as_dict(self) -> dict:
        raise NotImplementedError


class SavedResult(dict):
    """One saved file as the UI lists it: ``{"filename", "subfolder", "type"}``."""

    def __init__(self, filename: str, subfolder: str, type: Any):
        super().__init__(filename=filename, subfolder=subfolder, type=getattr(type, "value", type))


class SavedImages(_UIOutput):
    def __init__(self, results: list, is_animated: bool = False):
        self.results, self.is_animated = list(results), is_animated

    def as_dict(self) -> dict:
        return {"images": self.results, "animated": (self.is_animated,)}


class PreviewImage(_UIOutput):
    """Shows images (a batch ``[B,H,W,C]``): saved as PNG previews in the temp folder."""

    def __init__(self, image, animated: bool = False, cls: Any = None, **_ignored):
        self.image, self.animated = image, animated

    def as_dict(self) -> dict:
        saved = _Previewer().save_images(self.image, "ComfyUI")["ui"]["images"]
        return {"images": saved, "animated": (self.animated,)}


class PreviewMask(PreviewImage):
    """Shows masks ``[B,H,W]`` as grey images."""

    def __init__(self, mask, animated: bool = False, cls: Any = None, **_ignored):
        super().__init__(mask_to_image(mask), animated, cls)


class PreviewText(_UIOutput):
    """Shows a text on the node."""

    def __init__(self, value: str, **_ignored):
        self.value = value

    def as_dict(self) -> dict:
        return {"text": (self.value,)}
