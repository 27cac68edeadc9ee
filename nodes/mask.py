"""Mask nodes with ComfyUI's names and semantics: ImageToMask, MaskToImage, InvertMask, SolidMask.

A MASK is ``[batch, height, width]`` float in 0..1 (1 = selected). MaskPreview,
which writes a file, lives with the other writers in ``nodes.io`` (it shows
``mask_to_image(mask)``).
"""

from __future__ import annotations

import torch

from .resize import MAX_RESOLUTION

CHANNELS = ["red", "green", "blue", "alpha"]


def mask_to_image(mask: torch.Tensor) -> torch.Tensor:
    """A MASK ``[B,H,W]`` (or ``[H,W]``) as a grey IMAGE ``[B,H,W,3]``: each channel is the mask."""
    image = mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1])).movedim(1, -1)
    return image.expand(-1, -1, -1, 3)


class ImageToMask:
    DESCRIPTION = "One channel of the image as a mask (alpha needs a 4-channel image)."
    CATEGORY = "mask"
    RETURN_TYPES = ("MASK",)
    FUNCTION = "image_to_mask"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The image."}),
                "channel": (CHANNELS, {"tooltip": "The channel that becomes the mask."}),
            }
        }

    def image_to_mask(self, image, channel):
        index = CHANNELS.index(channel)
        if index >= image.shape[-1]:
            raise ValueError(f"ImageToMask: the image has {image.shape[-1]} channels, no {channel}")
        return (image[:, :, :, index],)


class MaskToImage:
    DESCRIPTION = "A mask as a grey RGB image (each channel = the mask)."
    CATEGORY = "mask"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "mask_to_image"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"mask": ("MASK", {"tooltip": "The mask ([B,H,W] or [H,W])."})}}

    def mask_to_image(self, mask):
        return (mask_to_image(mask),)


class InvertMask:
    DESCRIPTION = "Inverts the mask: 1 - value."
    CATEGORY = "mask"
    RETURN_TYPES = ("MASK",)
    FUNCTION = "invert"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"mask": ("MASK", {"tooltip": "The mask to invert."})}}

    def invert(self, mask):
        return (1.0 - mask,)


class SolidMask:
    DESCRIPTION = "A [1,height,width] mask filled with value."
    CATEGORY = "mask"
    RETURN_TYPES = ("MASK",)
    FUNCTION = "solid"

    @classmethod
    def INPUT_TYPES(cls):
        size = {"min": 1, "max": MAX_RESOLUTION, "step": 1}
        return {
            "required": {
                "value": (
                    "FLOAT",
                    {
                        "default": 1.0,
                        "min": 0.0,
                        "max": 1.0,
                        "step": 0.01,
                        "tooltip": "The fill value.",
                    },
                ),
                "width": ("INT", {"default": 512, **size, "tooltip": "Width in pixels."}),
                "height": ("INT", {"default": 512, **size, "tooltip": "Height in pixels."}),
            }
        }

    def solid(self, value, width, height):
        return (torch.full((1, height, width), value, dtype=torch.float32),)


NODE_CLASS_MAPPINGS = {
    "ImageToMask": ImageToMask,
    "MaskToImage": MaskToImage,
    "InvertMask": InvertMask,
    "SolidMask": SolidMask,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "ImageToMask": "Convert Image to Mask",
    "MaskToImage": "Convert Mask to Image",
    "InvertMask": "Invert Mask",
    "SolidMask": "Solid Mask",
}
