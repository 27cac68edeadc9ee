"""The ``comfy.comfy_types`` stand-in: ``IO`` type names, ``ComfyNodeABC``, ``InputTypeDict``.

``IO`` holds ComfyUI's type names as plain strings (``IO.IMAGE == "IMAGE"``,
``IO.ANY == "*"``), so an ``INPUT_TYPES`` written with them reads as one
written with strings: ``(IO.INT, {...})`` is an INT widget. (ComfyUI's are
members of a ``str`` enum whose ``!=`` treats ``"*"`` as matching anything;
the engine's validation does that for ``"*"`` itself.)
"""

from __future__ import annotations

from typing import Any, TypedDict


class IO:
    STRING = "STRING"
    IMAGE = "IMAGE"
    MASK = "MASK"
    LATENT = "LATENT"
    BOOLEAN = "BOOLEAN"
    INT = "INT"
    FLOAT = "FLOAT"
    COMBO = "COMBO"
    CONDITIONING = "CONDITIONING"
    SAMPLER = "SAMPLER"
    SIGMAS = "SIGMAS"
    GUIDER = "GUIDER"
    NOISE = "NOISE"
    CLIP = "CLIP"
    CONTROL_NET = "CONTROL_NET"
    VAE = "VAE"
    MODEL = "MODEL"
    LORA_MODEL = "LORA_MODEL"
    LOSS_MAP = "LOSS_MAP"
    CLIP_VISION = "CLIP_VISION"
    CLIP_VISION_OUTPUT = "CLIP_VISION_OUTPUT"
    STYLE_MODEL = "STYLE_MODEL"
    GLIGEN = "GLIGEN"
    UPSCALE_MODEL = "UPSCALE_MODEL"
    AUDIO = "AUDIO"
    WEBCAM = "WEBCAM"
    POINT = "POINT"
    FACE_ANALYSIS = "FACE_ANALYSIS"
    BBOX = "BBOX"
    SEGS = "SEGS"
    VIDEO = "VIDEO"
    ANY = "*"
    NUMBER = "FLOAT,INT"
    PRIMITIVE = "STRING,FLOAT,INT,BOOLEAN"


class InputTypeDict(TypedDict, total=False):
    required: dict[str, tuple]
    optional: dict[str, tuple]
    hidden: dict[str, Any]


class FileLocator(TypedDict):
    filename: str
    subfolder: str
    type: str


class ComfyNodeABC:
    """A base for V1 node classes: declares the class attributes, for type hints only."""

    DESCRIPTION: str
    CATEGORY: str
    RETURN_TYPES: tuple
    RETURN_NAMES: tuple
    FUNCTION: str


class CheckLazyMixin:
    """``check_lazy_status`` asking for every lazy input not computed yet."""

    def check_lazy_status(self, **kwargs) -> list[str]:
        return [name for name, value in kwargs.items() if value is None]
