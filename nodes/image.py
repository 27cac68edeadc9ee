"""Everyday image nodes with ComfyUI's names, inputs and semantics: sizes, crops, pads, composites.

IMAGE is ``[batch, height, width, channels]`` float32 in 0..1, MASK is
``[batch, height, width]``. Input names, defaults and ranges are ComfyUI's, so
its workflows run unchanged; where the result differs on purpose, the node's
DESCRIPTION says so.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .resize import CROP_METHODS, MAX_RESOLUTION, UPSCALE_METHODS, resize_image


def _image(tooltip: str = "The input image.") -> tuple:
    return ("IMAGE", {"tooltip": tooltip})


def _size(default: int, tooltip: str, minimum: int = 0, step: int = 1) -> tuple:
    return (
        "INT",
        {
            "default": default,
            "min": minimum,
            "max": MAX_RESOLUTION,
            "step": step,
            "tooltip": tooltip,
        },
    )


_METHOD_TOOLTIP = (
    "nearest-exact, bilinear, area, bicubic: torch interpolation; lanczos: PIL's Lanczos filter."
)


class ImageScale:
    DESCRIPTION = (
        "Resizes images to width x height. A size of 0 keeps the aspect ratio from the other "
        "one; both 0 returns the image unchanged. crop 'center' cuts the image to the target's "
        "aspect ratio first. Difference from ComfyUI: lanczos is computed in float, not 8-bit."
    )
    CATEGORY = "image/upscaling"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "upscale"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": _image(),
                "upscale_method": (UPSCALE_METHODS, {"tooltip": _METHOD_TOOLTIP}),
                "width": _size(512, "Target width in pixels (0: from height, keeping aspect)."),
                "height": _size(512, "Target height in pixels (0: from width, keeping aspect)."),
                "crop": (
                    CROP_METHODS,
                    {"tooltip": "center: crop to the target aspect ratio first."},
                ),
            }
        }

    def upscale(self, image, upscale_method, width, height, crop):
        if width == 0 and height == 0:
            return (image,)
        old_height, old_width = image.shape[1], image.shape[2]
        if width == 0:
            width = max(1, round(old_width * height / old_height))
        elif height == 0:
            height = max(1, round(old_height * width / old_width))
        return (resize_image(image, width, height, upscale_method, crop),)


class ImageScaleBy:
    DESCRIPTION = (
        "Resizes images by a factor: the new size is round(size * scale_by). "
        "Difference from ComfyUI: lanczos is computed in float, not 8-bit."
    )
    CATEGORY = "image/upscaling"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "upscale"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": _image(),
                "upscale_method": (UPSCALE_METHODS, {"tooltip": _METHOD_TOOLTIP}),
                "scale_by": (
                    "FLOAT",
                    {
                        "default": 1.0,
                        "min": 0.01,
                        "max": 8.0,
                        "step": 0.01,
                        "tooltip": "The scale factor.",
                    },
                ),
            }
        }

    def upscale(self, image, upscale_method, scale_by):
        width = round(image.shape[2] * scale_by)
        height = round(image.shape[1] * scale_by)
        return (resize_image(image, width, height, upscale_method, "disabled"),)


class ImageInvert:
    DESCRIPTION = "Inverts the images: 1 - value, every channel."
    CATEGORY = "image"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "invert"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": _image()}}

    def invert(self, image):
        return (1.0 - image,)


class ImageCrop:
    DESCRIPTION = (
        "Crops a width x height rectangle whose top-left corner is (x, y). x and y are clamped "
        "inside the image; the crop is cut short at the image's right and bottom edges."
    )
    CATEGORY = "image/transform"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "crop"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": _image(),
                "width": _size(512, "Width of the crop.", minimum=1),
                "height": _size(512, "Height of the crop.", minimum=1),
                "x": _size(0, "Left edge of the crop."),
                "y": _size(0, "Top edge of the crop."),
            }
        }

    def crop(self, image, width, height, x, y):
        x = min(x, image.shape[2] - 1)
        y = min(y, image.shape[1] - 1)
        return (image[:, y : y + height, x : x + width, :],)


class ImagePadForOutpaint:
    DESCRIPTION = (
        "Pads images with grey (0.5) for outpainting and outputs the mask of what to paint: "
        "1 on the padding; inside the original image, within `feathering` pixels of a padded "
        "side, ((feathering - d) / feathering)^2 where d is the distance to that side "
        "(as ComfyUI; no feathering when 2*feathering is not smaller than the image). "
        "The mask is [1,H,W] (one mask for the whole batch)."
    )
    CATEGORY = "image"
    RETURN_TYPES = ("IMAGE", "MASK")
    FUNCTION = "expand_image"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": _image(),
                "left": _size(0, "Pixels added on the left.", step=8),
                "top": _size(0, "Pixels added at the top.", step=8),
                "right": _size(0, "Pixels added on the right.", step=8),
                "bottom": _size(0, "Pixels added at the bottom.", step=8),
                "feathering": _size(40, "Width of the soft mask edge inside the image, in pixels."),
            }
        }

    def expand_image(self, image, left, top, right, bottom, feathering):
        batch, height, width, channels = image.shape
        new_image = torch.full(
            (batch, height + top + bottom, width + left + right, channels),
            0.5,
            dtype=torch.float32,
            device=image.device,
        )
        new_image[:, top : top + height, left : left + width, :] = image
        on_device = {"dtype": torch.float32, "device": image.device}
        mask = torch.ones((height + top + bottom, width + left + right), **on_device)
        inner = torch.zeros((height, width), **on_device)
        if feathering > 0 and feathering * 2 < height and feathering * 2 < width:
            i = torch.arange(height, **on_device)[:, None].expand(height, width)
            j = torch.arange(width, **on_device)[None, :].expand(height, width)
            # Distance to each padded side; an unpadded side counts as far away.
            far_i = torch.full_like(i, height)
            far_j = torch.full_like(j, width)
            distance = torch.stack(
                [
                    i if top else far_i,
                    height - i if bottom else far_i,
                    j if left else far_j,
                    width - j if right else far_j,
                ]
            ).amin(0)
            value = ((feathering - distance) / feathering) ** 2
            inner = torch.where(distance < feathering, value, inner)
        mask[top : top + height, left : left + width] = inner
        return (new_image, mask.unsqueeze(0))


class EmptyImage:
    DESCRIPTION = "A batch of images filled with one colour (0xRRGGBB)."
    CATEGORY = "image"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "generate"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "width": _size(512, "Width in pixels.", minimum=1),
                "height": _size(512, "Height in pixels.", minimum=1),
                "batch_size": (
                    "INT",
                    {"default": 1, "min": 1, "max": 4096, "tooltip": "Number of images."},
                ),
                "color": (
                    "INT",
                    {
                        "default": 0,
                        "min": 0,
                        "max": 0xFFFFFF,
                        "step": 1,
                        "display": "color",
                        "tooltip": "The fill colour as 0xRRGGBB.",
                    },
                ),
            }
        }

    def generate(self, width, height, batch_size=1, color=0):
        rgb = torch.tensor(
            [((color >> 16) & 0xFF) / 0xFF, ((color >> 8) & 0xFF) / 0xFF, (color & 0xFF) / 0xFF],
            dtype=torch.float32,
        )
        return (rgb.expand(batch_size, height, width, 3).contiguous(),)


class GetImageSize:
    DESCRIPTION = (
        "Outputs the width, height and batch size of the image. Difference from ComfyUI: the "
        "sizes are not also shown as text on the node (connect a Preview Any for that)."
    )
    CATEGORY = "image"
    RETURN_TYPES = ("INT", "INT", "INT")
    RETURN_NAMES = ("width", "height", "batch_size")
    FUNCTION = "get_size"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": _image()}}

    def get_size(self, image):
        return (image.shape[2], image.shape[1], image.shape[0])


_SPACING_COLORS = {
    "white": (1.0, 1.0, 1.0),
    "black": (0.0, 0.0, 0.0),
    "red": (1.0, 0.0, 0.0),
    "green": (0.0, 1.0, 0.0),
    "blue": (0.0, 0.0, 1.0),
}


def _repeat_last(image: torch.Tensor, batch: int) -> torch.Tensor:
    missing = batch - image.shape[0]
    return torch.cat([image, image[-1:].repeat(missing, 1, 1, 1)]) if missing > 0 else image


def _pad_centered(image: torch.Tensor, dim: int, size: int) -> torch.Tensor:
    """Zero-pad ``dim`` (1: height, 2: width) of ``[B,H,W,C]`` to ``size``, centred."""
    pad = size - image.shape[dim]
    if pad <= 0:
        return image
    before, after = pad // 2, pad - pad // 2
    padding = (0, 0, before, after) if dim == 2 else (0, 0, 0, 0, before, after)
    return F.pad(image, padding, mode="constant", value=0.0)


def add_channels(image: torch.Tensor, channels: int) -> torch.Tensor:
    """``image`` with channels of 1 appended up to ``channels`` (an alpha for RGB)."""
    missing = channels - image.shape[-1]
    if missing <= 0:
        return image
    alpha = torch.ones(*image.shape[:-1], missing, dtype=image.dtype, device=image.device)
    return torch.cat([image, alpha], dim=-1)


class ImageStitch:
    DESCRIPTION = (
        "Stitches image2 to image1 in the given direction (right, down, left, up); without "
        "image2, returns image1. match_image_size resizes image2 (lanczos, keeping its aspect) "
        "to image1's height (left/right) or width (up/down); otherwise the smaller one is padded "
        "with black, centred. A shorter batch repeats its last image; a missing alpha channel "
        "is added as 1. spacing_width (rounded up to even) inserts a bar of spacing_color."
    )
    CATEGORY = "image/transform"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "stitch"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image1": _image("The first image."),
                "direction": (
                    ["right", "down", "left", "up"],
                    {"default": "right", "tooltip": "Where image2 goes relative to image1."},
                ),
                "match_image_size": (
                    "BOOLEAN",
                    {"default": True, "tooltip": "Resize image2 to fit image1's side."},
                ),
                "spacing_width": (
                    "INT",
                    {
                        "default": 0,
                        "min": 0,
                        "max": 1024,
                        "step": 2,
                        "tooltip": "Pixels between the images.",
                    },
                ),
                "spacing_color": (
                    list(_SPACING_COLORS),
                    {"default": "white", "tooltip": "Colour of the spacing."},
                ),
            },
            "optional": {"image2": _image("The image to attach.")},
        }

    def stitch(
        self, image1, direction, match_image_size, spacing_width, spacing_color, image2=None
    ):
        if image2 is None:
            return (image1,)
        batch = max(image1.shape[0], image2.shape[0])
        image1, image2 = _repeat_last(image1, batch), _repeat_last(image2, batch)
        horizontal = direction in ("left", "right")
        if match_image_size:
            (h1, w1), (h2, w2) = image1.shape[1:3], image2.shape[1:3]
            aspect = w2 / h2
            if horizontal:
                target_h, target_w = h1, int(h1 * aspect)
            else:
                target_w, target_h = w1, int(w1 / aspect)
            image2 = resize_image(image2, target_w, target_h, "lanczos", "disabled")
        else:
            dim = 1 if horizontal else 2  # pad the side that is not concatenated
            size = max(image1.shape[dim], image2.shape[dim])
            image1, image2 = _pad_centered(image1, dim, size), _pad_centered(image2, dim, size)
        channels = max(image1.shape[-1], image2.shape[-1])
        image1, image2 = add_channels(image1, channels), add_channels(image2, channels)
        parts = [image2, image1] if direction in ("left", "up") else [image1, image2]
        if spacing_width > 0:
            spacing_width += spacing_width % 2
            if horizontal:
                shape = (batch, max(image1.shape[1], image2.shape[1]), spacing_width, channels)
            else:
                shape = (batch, spacing_width, max(image1.shape[2], image2.shape[2]), channels)
            spacing = torch.zeros(shape, dtype=image1.dtype, device=image1.device)
            color = _SPACING_COLORS[spacing_color]
            for i in range(min(3, channels)):
                spacing[..., i] = color[i]
            if channels == 4:
                spacing[..., 3] = 1.0
            parts.insert(1, spacing)
        return (torch.cat(parts, dim=2 if horizontal else 1),)


def repeat_to_batch_size(tensor: torch.Tensor, batch: int) -> torch.Tensor:
    """Cut or cycle ``tensor``'s first dimension to ``batch`` entries."""
    if tensor.shape[0] > batch:
        return tensor[:batch]
    if tensor.shape[0] < batch:
        times = -(-batch // tensor.shape[0])
        return tensor.repeat(times, *[1] * (tensor.dim() - 1))[:batch]
    return tensor


class ImageCompositeMasked:
    DESCRIPTION = (
        "Pastes source onto destination with its top-left corner at (x, y), blended by the mask "
        "(resized bilinearly to the source; 1 = source). resize_source first resizes source to "
        "the destination's size. The part of the source outside the destination is dropped. "
        "Difference from ComfyUI: the channel counts may differ (ComfyUI needs them to match): "
        "an RGBA source on an RGB destination loses its alpha channel, and an RGB source on an "
        "RGBA destination gains an opaque alpha (1)."
    )
    CATEGORY = "image"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "composite"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "destination": _image("The image pasted onto."),
                "source": _image("The image pasted."),
                "x": _size(0, "Left edge of the source in the destination."),
                "y": _size(0, "Top edge of the source in the destination."),
                "resize_source": (
                    "BOOLEAN",
                    {"default": False, "tooltip": "Resize source to the destination's size first."},
                ),
            },
            "optional": {"mask": ("MASK", {"tooltip": "Where the source shows (1) or not (0)."})},
        }

    def composite(self, destination, source, x, y, resize_source, mask=None):
        if destination.shape[-1] < source.shape[-1]:
            source = source[..., : destination.shape[-1]]
        elif destination.shape[-1] > source.shape[-1]:
            source = add_channels(source, destination.shape[-1])
        out = destination.clone().movedim(-1, 1)
        source = source.to(out.device).movedim(-1, 1)
        if resize_source:
            source = F.interpolate(source, size=out.shape[2:], mode="bilinear")
        source = repeat_to_batch_size(source, out.shape[0])
        left = max(0, min(x, out.shape[3]))  # x, y >= 0 by their spec
        top = max(0, min(y, out.shape[2]))
        if mask is None:
            mask = torch.ones_like(source)
        else:
            mask = mask.to(out.device, copy=True).reshape((-1, 1, mask.shape[-2], mask.shape[-1]))
            mask = F.interpolate(mask, size=source.shape[2:], mode="bilinear")
            mask = repeat_to_batch_size(mask, source.shape[0])
        visible_w = out.shape[3] - left
        visible_h = out.shape[2] - top
        mask = mask[:, :, :visible_h, :visible_w]
        region = out[:, :, top : top + source.shape[2], left : left + source.shape[3]]
        pasted = mask * source[:, :, :visible_h, :visible_w] + (1 - mask) * region
        out[:, :, top : top + source.shape[2], left : left + source.shape[3]] = pasted
        return (out.movedim(1, -1),)


NODE_CLASS_MAPPINGS = {
    "ImageScale": ImageScale,
    "ImageScaleBy": ImageScaleBy,
    "ImageInvert": ImageInvert,
    "ImageCrop": ImageCrop,
    "ImagePadForOutpaint": ImagePadForOutpaint,
    "EmptyImage": EmptyImage,
    "GetImageSize": GetImageSize,
    "ImageStitch": ImageStitch,
    "ImageCompositeMasked": ImageCompositeMasked,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "ImageScale": "Upscale Image",
    "ImageScaleBy": "Upscale Image By",
    "ImageInvert": "Invert Image",
    "ImageCrop": "Image Crop",
    "ImagePadForOutpaint": "Pad Image for Outpainting",
    "EmptyImage": "Empty Image",
    "GetImageSize": "Get Image Size",
    "ImageStitch": "Image Stitch",
    "ImageCompositeMasked": "Image Composite Masked",
}
