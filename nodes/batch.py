"""Batch nodes with ComfyUI's names and semantics: ImageBatch, ImageFromBatch, RepeatImageBatch,
RebatchImages, and Batch Images / Batch Masks (``BatchImagesNode``, ``BatchMasksNode``).

A batch is the first dimension of an IMAGE ``[B,H,W,C]``. RebatchImages works
on lists (``INPUT_IS_LIST``/``OUTPUT_IS_LIST``): it takes every image of every
batch it receives and regroups them into batches of ``batch_size``.

Batch Images and Batch Masks take any number of inputs: an Autogrow group
(``engine.dynamic``) named ``images.image0``, ``images.image1``... (``masks.mask0``...)
in a prompt, the first two required, as ComfyUI's.
"""

from __future__ import annotations

import torch

from engine.dynamic import autogrow

from .image import add_channels
from .resize import common_upscale, resize_image

AUTOGROW_MAX = 50  # inputs of Batch Images / Batch Masks, as ComfyUI


class ImageBatch:
    DESCRIPTION = (
        "Joins two image batches into one (image1's images first). image2 of another size is "
        "resized (bilinear, centre crop) to image1's. Difference from ComfyUI: if the channel "
        "counts differ, the image with fewer channels gains channels of 1 (e.g. alpha)."
    )
    CATEGORY = "image"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "batch"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image1": ("IMAGE", {"tooltip": "The first images."}),
                "image2": ("IMAGE", {"tooltip": "The images appended after them."}),
            }
        }

    def batch(self, image1, image2):
        channels = max(image1.shape[-1], image2.shape[-1])
        image1, image2 = add_channels(image1, channels), add_channels(image2, channels)
        if image1.shape[1:] != image2.shape[1:]:
            image2 = resize_image(image2, image1.shape[2], image1.shape[1], "bilinear", "center")
        return (torch.cat((image1, image2), dim=0),)


class ImageFromBatch:
    DESCRIPTION = (
        "Takes `length` images starting at batch_index (0-based). The index is clamped to the "
        "last image and the length to the images left."
    )
    CATEGORY = "image/batch"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "frombatch"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The batch."}),
                "batch_index": (
                    "INT",
                    {"default": 0, "min": 0, "max": 4095, "tooltip": "Index of the first image."},
                ),
                "length": (
                    "INT",
                    {"default": 1, "min": 1, "max": 4096, "tooltip": "How many images to take."},
                ),
            }
        }

    def frombatch(self, image, batch_index, length):
        batch_index = min(image.shape[0] - 1, batch_index)
        length = min(image.shape[0] - batch_index, length)
        return (image[batch_index : batch_index + length].clone(),)


class RepeatImageBatch:
    DESCRIPTION = "Repeats the whole batch `amount` times (1,2 repeated twice is 1,2,1,2)."
    CATEGORY = "image/batch"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "repeat"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The batch to repeat."}),
                "amount": (
                    "INT",
                    {"default": 1, "min": 1, "max": 4096, "tooltip": "How many copies."},
                ),
            }
        }

    def repeat(self, image, amount):
        return (image.repeat((amount, 1, 1, 1)),)


class RebatchImages:
    DESCRIPTION = (
        "Regroups images into batches of batch_size: all images of all incoming batches, in "
        "order, become a list of batches (the last may be smaller). Images must share a size."
    )
    CATEGORY = "image/batch"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("IMAGE",)
    INPUT_IS_LIST = True
    OUTPUT_IS_LIST = (True,)
    FUNCTION = "rebatch"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The images (a list of batches)."}),
                "batch_size": (
                    "INT",
                    {"default": 1, "min": 1, "max": 4096, "tooltip": "Images per output batch."},
                ),
            }
        }

    def rebatch(self, images, batch_size):
        size = batch_size[0]
        singles = [img[i : i + 1] for img in images for i in range(img.shape[0])]
        return ([torch.cat(singles[i : i + size], dim=0) for i in range(0, len(singles), size)],)


def _connected(inputs: dict, group: str, stem: str) -> list:
    """The values of an Autogrow group's connected inputs, in the group's order."""
    names = (f"{group}.{stem}{i}" for i in range(AUTOGROW_MAX))
    return [inputs[name] for name in names if inputs.get(name) is not None]


class BatchImagesNode:
    DESCRIPTION = (
        "Joins any number of image batches into one, in input order. Images of another size "
        "are resized (bilinear, centre crop) to the first image's size; an image with fewer "
        "channels gains channels of 1 (alpha)."
    )
    CATEGORY = "image"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "execute"

    @classmethod
    def INPUT_TYPES(cls):
        return autogrow(
            "images",
            ("IMAGE", {"tooltip": "Images to add to the batch."}),
            [f"image{i}" for i in range(AUTOGROW_MAX)],
            required=2,
        )

    def execute(self, **inputs):
        images = _connected(inputs, "images", "image")
        channels = max(image.shape[-1] for image in images)
        first = images[0].shape
        out = []
        for image in images:
            image = add_channels(image, channels)
            if image.shape[1:3] != first[1:3]:
                image = resize_image(image, first[2], first[1], "bilinear", "center")
            out.append(image)
        return (torch.cat(out, dim=0),)


class BatchMasksNode:
    DESCRIPTION = (
        "Joins any number of mask batches into one, in input order. Masks of another size are "
        "resized (bilinear, centre crop) to the first mask's size."
    )
    CATEGORY = "mask"
    RETURN_TYPES = ("MASK",)
    FUNCTION = "execute"

    @classmethod
    def INPUT_TYPES(cls):
        return autogrow(
            "masks",
            ("MASK", {"tooltip": "Masks to add to the batch."}),
            [f"mask{i}" for i in range(AUTOGROW_MAX)],
            required=2,
        )

    def execute(self, **inputs):
        masks = _connected(inputs, "masks", "mask")
        first = masks[0].shape
        out = []
        for mask in masks:
            if mask.shape[1:] != first[1:]:
                mask = common_upscale(mask.unsqueeze(1), first[2], first[1], "bilinear", "center")
                mask = mask.squeeze(1)
            out.append(mask)
        return (torch.cat(out, dim=0),)


NODE_CLASS_MAPPINGS = {
    "ImageBatch": ImageBatch,
    "ImageFromBatch": ImageFromBatch,
    "RepeatImageBatch": RepeatImageBatch,
    "RebatchImages": RebatchImages,
    "BatchImagesNode": BatchImagesNode,
    "BatchMasksNode": BatchMasksNode,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "ImageBatch": "Batch Images",
    "ImageFromBatch": "Image From Batch",
    "RepeatImageBatch": "Repeat Image Batch",
    "RebatchImages": "Rebatch Images",
    "BatchImagesNode": "Batch Images",
    "BatchMasksNode": "Batch Masks",
}
