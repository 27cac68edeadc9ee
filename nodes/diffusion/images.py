"""Image nodes of the teaching pipeline: tile a batch into a grid; draw the training shapes."""

from __future__ import annotations

import math

import torch

from ..primitives import SEED_MAX
from .shapes import shapes


def grid(images: torch.Tensor, columns: int = 0, padding: int = 0, value: float = 1.0):
    """Tile IMAGE [B,H,W,C] into one image [1, rows·H + (rows+1)·p, cols·W + (cols+1)·p, C].

    ``columns`` 0 picks ⌈√B⌉; ``padding`` p pixels of ``value`` surround every tile.
    Empty cells of the last row are filled with ``value`` too.
    """
    b, h, w, c = images.shape
    cols = columns if columns > 0 else math.ceil(math.sqrt(b))
    cols = min(cols, b)
    rows = math.ceil(b / cols)
    p = padding
    out = torch.full(
        (1, rows * h + (rows + 1) * p, cols * w + (cols + 1) * p, c),
        value,
        dtype=images.dtype,
        device=images.device,
    )
    for i in range(b):
        r, k = divmod(i, cols)
        y, x = p + r * (h + p), p + k * (w + p)
        out[0, y : y + h, x : x + w] = images[i]
    return out


class ImageGrid:
    DESCRIPTION = (
        "Tiles a batch of images into one image, row by row, to preview a batch at a glance. "
        "columns 0 makes the grid as square as possible."
    )
    CATEGORY = "image/batch"
    RETURN_TYPES = ("IMAGE",)
    OUTPUT_TOOLTIPS = ("One image [1, H', W', C] holding every image of the batch.",)
    FUNCTION = "tile"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The batch to tile."}),
                "columns": (
                    "INT",
                    {
                        "default": 0,
                        "min": 0,
                        "max": 256,
                        "tooltip": "Images per row; 0: about the square root of the batch.",
                    },
                ),
                "padding": (
                    "INT",
                    {
                        "default": 2,
                        "min": 0,
                        "max": 64,
                        "tooltip": "Pixels of background around each image.",
                    },
                ),
                "background": (
                    "FLOAT",
                    {
                        "default": 1.0,
                        "min": 0.0,
                        "max": 1.0,
                        "step": 0.01,
                        "tooltip": "Grey level of the padding (0 black, 1 white).",
                    },
                ),
            }
        }

    def tile(self, images, columns, padding, background):
        return (grid(images, columns, padding, background),)


class GenerateShapes:
    DESCRIPTION = (
        "Draws images like the ones the teaching diffusion model was trained on: one or two "
        "coloured discs, squares or triangles on a plain background. The same seed always "
        "gives the same images."
    )
    CATEGORY = "diffusion"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "generate"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "size": (
                    "INT",
                    {
                        "default": 32,
                        "min": 8,
                        "max": 512,
                        "step": 8,
                        "tooltip": "Width and height.",
                    },
                ),
                "batch_size": (
                    "INT",
                    {"default": 1, "min": 1, "max": 1024, "tooltip": "How many images."},
                ),
                "seed": (
                    "INT",
                    {
                        "default": 0,
                        "min": 0,
                        "max": SEED_MAX,
                        "control_after_generate": True,
                        "tooltip": "Which images (the same seed, the same images).",
                    },
                ),
            }
        }

    def generate(self, size, batch_size, seed):
        return (shapes(batch_size, size, seed),)
