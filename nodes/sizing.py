"""Resizing to a size worked out from the input: ComfyUI's ImageScaleToTotalPixels,
ResizeAndPadImage and Resize Image/Mask (``ResizeImageMaskNode``).

All resample through ``resize.common_upscale`` (the method names mean the same
everywhere). Difference from ComfyUI: a computed side that rounds to 0 pixels
becomes 1 (ComfyUI fails inside the resampler).

``ResizeImageMaskNode``'s ``resize_type`` is a DynamicCombo (``engine.dynamic``):
in a prompt it is the combo's value plus the chosen option's inputs, named
``resize_type.width``, ``resize_type.multiplier``...; its ``input`` and output
take an IMAGE or a MASK (``"IMAGE,MASK"``: ComfyUI's match-type template).
"""

from __future__ import annotations

import math

import torch

from engine.dynamic import dynamic_combo

from .resize import CROP_METHODS, MAX_RESOLUTION, UPSCALE_METHODS, common_upscale


def _resize(value: torch.Tensor, width: int, height: int, method: str, crop: str = "disabled"):
    """Resize an IMAGE ``[B,H,W,C]`` or a MASK ``[B,H,W]`` to ``width``×``height`` (at least 1)."""
    width, height = max(1, int(width)), max(1, int(height))
    if value.ndim == 4:
        return common_upscale(value.movedim(-1, 1), width, height, method, crop).movedim(1, -1)
    return common_upscale(value.unsqueeze(1), width, height, method, crop).squeeze(1)


def _size(value: torch.Tensor) -> tuple[int, int]:
    """(width, height) of an IMAGE or a MASK."""
    return value.shape[2], value.shape[1]


class ImageScaleToTotalPixels:
    DESCRIPTION = (
        "Resizes images to about `megapixels` million pixels (1 megapixel = 1024 x 1024), "
        "keeping the aspect ratio; each side is rounded to a multiple of resolution_steps."
    )
    CATEGORY = "image/upscaling"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "execute"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The images to resize."}),
                "upscale_method": (UPSCALE_METHODS, {"tooltip": "The resampling method."}),
                "megapixels": (
                    "FLOAT",
                    {
                        "default": 1.0,
                        "min": 0.01,
                        "max": 16.0,
                        "step": 0.01,
                        "tooltip": "Target size in megapixels (1.0 = 1024 x 1024 pixels).",
                    },
                ),
                "resolution_steps": (
                    "INT",
                    {
                        "default": 1,
                        "min": 1,
                        "max": 256,
                        "tooltip": "Round width and height to a multiple of this.",
                    },
                ),
            }
        }

    def execute(self, image, upscale_method, megapixels, resolution_steps):
        width, height = _size(image)
        scale = math.sqrt(megapixels * 1024 * 1024 / (width * height))
        new_width = round(width * scale / resolution_steps) * resolution_steps
        new_height = round(height * scale / resolution_steps) * resolution_steps
        return (_resize(image, new_width, new_height, upscale_method),)


class ResizeAndPadImage:
    DESCRIPTION = (
        "Fits images into target_width x target_height: scales them (keeping the aspect "
        "ratio) until one side fits, then pads the other side evenly with padding_color."
    )
    CATEGORY = "image/transform"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "execute"

    @classmethod
    def INPUT_TYPES(cls):
        side = {"default": 512, "min": 1, "max": MAX_RESOLUTION, "step": 1}
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The images to fit."}),
                "target_width": ("INT", {**side, "tooltip": "Width of the result."}),
                "target_height": ("INT", {**side, "tooltip": "Height of the result."}),
                "padding_color": (["white", "black"], {"tooltip": "Colour of the padding."}),
                "interpolation": (
                    ["area", "bicubic", "nearest-exact", "bilinear", "lanczos"],
                    {"tooltip": "The resampling method."},
                ),
            }
        }

    def execute(self, image, target_width, target_height, padding_color, interpolation):
        batch, height, width, channels = image.shape
        scale = min(target_width / width, target_height / height)
        new_width = min(target_width, max(1, int(width * scale)))
        new_height = min(target_height, max(1, int(height * scale)))
        resized = _resize(image, new_width, new_height, interpolation)
        fill = 0.0 if padding_color == "black" else 1.0
        out = torch.full(
            (batch, target_height, target_width, channels),
            fill,
            dtype=image.dtype,
            device=image.device,
        )
        top, left = (target_height - new_height) // 2, (target_width - new_width) // 2
        out[:, top : top + new_height, left : left + new_width] = resized
        return (out,)


RESIZE_TYPES = [
    "scale dimensions",
    "scale by multiplier",
    "scale longer dimension",
    "scale shorter dimension",
    "scale width",
    "scale height",
    "scale total pixels",
    "match size",
    "scale to multiple",
]


def _side(tooltip: str, default: int = 512, minimum: int = 0) -> tuple:
    options = {"default": default, "min": minimum, "max": MAX_RESOLUTION, "step": 1}
    return ("INT", {**options, "tooltip": tooltip})


_CROP = (
    CROP_METHODS,
    {
        "default": "center",
        "tooltip": "When the aspect ratio changes: 'disabled' stretches, 'center' crops the "
        "middle.",
    },
)


_MEGAPIXELS = (
    "FLOAT",
    {
        "default": 1.0,
        "min": 0.01,
        "max": 16.0,
        "step": 0.01,
        "tooltip": "Target size in megapixels (1.0 = 1024 x 1024 pixels).",
    },
)

# resize_type's choices and the inputs each one adds (ComfyUI's order).
RESIZE_OPTIONS: dict[str, dict[str, tuple]] = {
    "scale dimensions": {
        "width": _side("Target width (0: from the height, keeping the aspect ratio)."),
        "height": _side("Target height (0: from the width, keeping the aspect ratio)."),
        "crop": _CROP,
    },
    "scale by multiplier": {
        "multiplier": (
            "FLOAT",
            {
                "default": 1.0,
                "min": 0.01,
                "max": 8.0,
                "step": 0.01,
                "tooltip": "Scale factor (2.0 doubles the size, 0.5 halves it).",
            },
        ),
    },
    "scale longer dimension": {
        "longer_size": _side("The longer side becomes this; the aspect ratio is kept."),
    },
    "scale shorter dimension": {
        "shorter_size": _side("The shorter side becomes this; the aspect ratio is kept."),
    },
    "scale width": {"width": _side("Target width; the height keeps the aspect ratio.")},
    "scale height": {"height": _side("Target height; the width keeps the aspect ratio.")},
    "scale total pixels": {"megapixels": _MEGAPIXELS},
    "match size": {
        "match": ("IMAGE,MASK", {"tooltip": "Resize to the size of this image or mask."}),
        "crop": _CROP,
    },
    "scale to multiple": {
        "multiple": _side(
            "Width and height become multiples of this (e.g. 8 or 64 for latents).",
            default=8,
            minimum=1,
        ),
    },
}


class ResizeImageMaskNode:
    DESCRIPTION = (
        "Resizes an image or a mask. resize_type chooses how the size is found: given width "
        "and height (0: from the other side, keeping the aspect ratio), a multiplier, the "
        "longer or shorter side, the width or height alone, a number of megapixels, the size "
        "of another image or mask, or the nearest multiple (scaled to cover, then centre-cropped)."
    )
    CATEGORY = "transform"
    RETURN_TYPES = ("IMAGE,MASK",)
    RETURN_NAMES = ("resized",)
    FUNCTION = "execute"

    @classmethod
    def INPUT_TYPES(cls):
        resize_type = dynamic_combo(
            "resize_type", RESIZE_OPTIONS, {"tooltip": "How to find the new size."}
        )
        return {
            "required": {
                "input": (
                    "IMAGE,MASK",
                    {
                        "tooltip": "The image or mask to resize.",
                        "template": {"template_id": "input_type", "allowed_types": "IMAGE,MASK"},
                    },
                ),
                **resize_type["required"],
                "scale_method": (
                    UPSCALE_METHODS,
                    {
                        "default": "area",
                        "tooltip": "The resampling method: 'area' is best for shrinking, "
                        "'lanczos' for enlarging, 'nearest-exact' for pixel art.",
                    },
                ),
            },
            "optional": resize_type["optional"],
        }

    def execute(self, input, resize_type, scale_method, **options):
        if resize_type not in RESIZE_OPTIONS:
            raise ValueError(f"unknown resize_type {resize_type!r}: expected one of {RESIZE_TYPES}")
        chosen = RESIZE_OPTIONS[resize_type]

        def option(name):
            value = options.get(f"resize_type.{name}")
            if value is None and "default" in chosen[name][1]:  # as ComfyUI's form would send
                value = chosen[name][1]["default"]
            if value is None:
                raise ValueError(f"resize_type {resize_type!r} needs the input resize_type.{name}")
            return value

        width, height = _size(input)
        crop = "disabled"
        if resize_type == "scale dimensions":
            new_width, new_height = option("width"), option("height")
            if new_width == 0 and new_height == 0:
                return (input,)
            new_width = new_width or round(width * new_height / height)
            new_height = new_height or round(height * new_width / width)
            crop = option("crop")
        elif resize_type == "scale by multiplier":
            multiplier = option("multiplier")
            new_width, new_height = round(width * multiplier), round(height * multiplier)
        elif resize_type in ("scale longer dimension", "scale shorter dimension"):
            longer = resize_type == "scale longer dimension"
            size = option("longer_size" if longer else "shorter_size")
            if width == height:
                new_width = new_height = size
            elif (width > height) == longer:
                new_width, new_height = size, round(height / width * size)
            else:
                new_width, new_height = round(width / height * size), size
        elif resize_type == "scale width":
            new_width = option("width")
            if new_width == 0:
                return (input,)
            new_height = round(height * new_width / width)
        elif resize_type == "scale height":
            new_height = option("height")
            if new_height == 0:
                return (input,)
            new_width = round(width * new_height / height)
        elif resize_type == "scale total pixels":
            scale = math.sqrt(int(option("megapixels") * 1024 * 1024) / (width * height))
            new_width, new_height = round(width * scale), round(height * scale)
        elif resize_type == "match size":
            (new_width, new_height), crop = _size(option("match")), option("crop")
        else:  # "scale to multiple"
            return (_to_multiple(input, option("multiple"), scale_method),)
        return (_resize(input, new_width, new_height, scale_method, crop),)


def _to_multiple(value: torch.Tensor, multiple: int, method: str) -> torch.Tensor:
    """Scale to cover the nearest smaller multiple-of-``multiple`` size, then crop its centre."""
    width, height = _size(value)
    target_w, target_h = width // multiple * multiple, height // multiple * multiple
    if multiple <= 1 or target_w == 0 or target_h == 0 or (target_w, target_h) == (width, height):
        return value
    if target_w / width >= target_h / height:
        scaled_w, scaled_h = target_w, max(target_h, math.ceil(height * target_w / width))
    else:
        scaled_w, scaled_h = max(target_w, math.ceil(width * target_h / height)), target_h
    value = _resize(value, scaled_w, scaled_h, method)
    x, y = (scaled_w - target_w) // 2, (scaled_h - target_h) // 2
    return value[:, y : y + target_h, x : x + target_w]


NODE_CLASS_MAPPINGS = {
    "ImageScaleToTotalPixels": ImageScaleToTotalPixels,
    "ResizeAndPadImage": ResizeAndPadImage,
    "ResizeImageMaskNode": ResizeImageMaskNode,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "ImageScaleToTotalPixels": "Scale Image to Total Pixels",
    "ResizeAndPadImage": "Resize And Pad Image",
    "ResizeImageMaskNode": "Resize Image/Mask",
}
