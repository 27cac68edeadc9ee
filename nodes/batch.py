"""Batch nodes with ComfyUI's names and semantics: ImageBatch, ImageFromBatch, RepeatImageBatch,
RebatchImages.

A batch is the first dimension of an IMAGE ``[B,H,W,C]``. RebatchImages works
on lists (``INPUT_IS_LIST``/``OUTPUT_IS_LIST``): it takes every image of every
batch it receives and regroups them into batches of ``batch_size``.
"""

from __future__ import annotations

import torch

from .image import add_channels
from .resize import resize_image


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


NODE_CLASS_MAPPINGS = {
    "ImageBatch": ImageBatch,
    "ImageFromBatch": ImageFromBatch,
    "RepeatImageBatch": RepeatImageBatch,
    "RebatchImages": RebatchImages,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "ImageBatch": "Batch Images",
    "ImageFromBatch": "Image From Batch",
    "RepeatImageBatch": "Repeat Image Batch",
    "RebatchImages": "Rebatch Images",
}
