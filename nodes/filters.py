"""Pixel filters with ComfyUI's names and semantics: ImageBlur, ImageSharpen, ImageBlend, Canny.

All pure torch on ``[B,H,W,C]`` images. Two ComfyUI conventions worth knowing,
kept for compatibility:

- ImageBlur/ImageSharpen build their Gaussian on ``linspace(-1, 1, 2r+1)``, so
  ``sigma`` is measured in units of the radius, not in pixels: sigma 1 with
  radius 5 is a far wider blur than with radius 1.
- Canny follows kornia's ``canny`` (which ComfyUI calls): grayscale, a 5×5
  Gaussian (sigma 1 px), unnormalised Sobel gradients, non-maximum suppression
  along the gradient direction rounded to 45°, a double threshold on the
  gradient magnitude, then hysteresis (weak edges touching strong ones, through
  8-neighbours, become strong; the rest are dropped).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .resize import resize_image


def gaussian_kernel(kernel_size: int, sigma: float) -> torch.Tensor:
    """ComfyUI's 2-D kernel: a Gaussian of ``sigma`` over ``linspace(-1, 1)``², summing to 1."""
    axis = torch.linspace(-1, 1, kernel_size)
    x, y = torch.meshgrid(axis, axis, indexing="ij")
    g = torch.exp(-(x * x + y * y) / (2.0 * sigma * sigma))
    return g / g.sum()


def _filter(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Convolve every channel of ``[B,H,W,C]`` with a square ``kernel``, mirroring at the edges."""
    channels = image.shape[-1]
    radius = kernel.shape[-1] // 2
    x = image.movedim(-1, 1)
    # Reflection needs the image to be larger than the radius; tiny images repeat their edge.
    mode = "reflect" if radius < min(x.shape[2], x.shape[3]) else "replicate"
    x = F.pad(x, (radius, radius, radius, radius), mode=mode)
    weight = kernel.to(device=x.device, dtype=x.dtype).expand(channels, 1, *kernel.shape)
    return F.conv2d(x, weight, groups=channels).movedim(1, -1)


class ImageBlur:
    DESCRIPTION = (
        "Gaussian blur over a (2*blur_radius+1)^2 window, mirrored at the edges. As in "
        "ComfyUI, sigma is relative to the radius (the kernel spans -1..1), not in pixels. "
        "Difference: images no larger than the radius repeat their edge instead of failing."
    )
    CATEGORY = "image/postprocessing"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "blur"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The image to blur."}),
                "blur_radius": (
                    "INT",
                    {
                        "default": 1,
                        "min": 1,
                        "max": 31,
                        "step": 1,
                        "tooltip": "Kernel radius in pixels.",
                    },
                ),
                "sigma": (
                    "FLOAT",
                    {
                        "default": 1.0,
                        "min": 0.1,
                        "max": 10.0,
                        "step": 0.1,
                        "tooltip": "Gaussian width, relative to the radius.",
                    },
                ),
            }
        }

    def blur(self, image, blur_radius, sigma):
        if blur_radius == 0:
            return (image,)
        return (_filter(image, gaussian_kernel(blur_radius * 2 + 1, sigma)),)


class ImageSharpen:
    DESCRIPTION = (
        "Unsharp-style sharpening as ComfyUI: the kernel is -10*alpha times a Gaussian "
        "(sigma relative to the radius) with its centre raised so it sums to 1; the result "
        "is clamped to 0..1."
    )
    CATEGORY = "image/postprocessing"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "sharpen"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The image to sharpen."}),
                "sharpen_radius": (
                    "INT",
                    {
                        "default": 1,
                        "min": 1,
                        "max": 31,
                        "step": 1,
                        "tooltip": "Kernel radius in pixels.",
                    },
                ),
                "sigma": (
                    "FLOAT",
                    {
                        "default": 1.0,
                        "min": 0.1,
                        "max": 10.0,
                        "step": 0.01,
                        "tooltip": "Gaussian width, relative to the radius.",
                    },
                ),
                "alpha": (
                    "FLOAT",
                    {"default": 1.0, "min": 0.0, "max": 5.0, "step": 0.01, "tooltip": "Strength."},
                ),
            }
        }

    def sharpen(self, image, sharpen_radius, sigma, alpha):
        if sharpen_radius == 0:
            return (image,)
        size = sharpen_radius * 2 + 1
        kernel = gaussian_kernel(size, sigma) * -(alpha * 10)
        center = size // 2
        kernel[center, center] = kernel[center, center] - kernel.sum() + 1.0
        return (torch.clamp(_filter(image, kernel), 0, 1),)


def _soft_light_g(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x <= 0.25, ((16 * x - 12) * x + 4) * x, torch.sqrt(x))


BLEND_MODES = {
    "normal": lambda a, b: b,
    "multiply": lambda a, b: a * b,
    "screen": lambda a, b: 1 - (1 - a) * (1 - b),
    "overlay": lambda a, b: torch.where(a <= 0.5, 2 * a * b, 1 - 2 * (1 - a) * (1 - b)),
    "soft_light": lambda a, b: torch.where(
        b <= 0.5, a - (1 - 2 * b) * a * (1 - a), a + (2 * b - 1) * (_soft_light_g(a) - a)
    ),
    "difference": lambda a, b: a - b,
}


class ImageBlend:
    DESCRIPTION = (
        "Blends image2 over image1: image1*(1-blend_factor) + mode(image1, image2)*blend_factor, "
        "clamped to 0..1. Modes as ComfyUI (difference is image1 - image2, clamped; soft_light "
        "is the W3C formula). image2 of another shape is resized (bicubic, centre crop) to "
        "image1's size."
    )
    CATEGORY = "image/postprocessing"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "blend_images"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image1": ("IMAGE", {"tooltip": "The base image."}),
                "image2": ("IMAGE", {"tooltip": "The image blended over it."}),
                "blend_factor": (
                    "FLOAT",
                    {
                        "default": 0.5,
                        "min": 0.0,
                        "max": 1.0,
                        "step": 0.01,
                        "tooltip": "0: image1 only, 1: the blend only.",
                    },
                ),
                "blend_mode": (list(BLEND_MODES), {"tooltip": "How the two images combine."}),
            }
        }

    def blend_images(self, image1, image2, blend_factor, blend_mode):
        image2 = image2.to(image1.device)
        if image1.shape != image2.shape:
            image2 = resize_image(image2, image1.shape[2], image1.shape[1], "bicubic", "center")
        blended = BLEND_MODES[blend_mode](image1, image2)
        return (torch.clamp(image1 * (1 - blend_factor) + blended * blend_factor, 0, 1),)


# --- Canny ---

_GRAY = (0.299, 0.587, 0.114)
_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
# Neighbour offsets (dy, dx) for gradient directions 0°, 45°, ..., 315° (y grows downwards).
_DIRECTIONS = [(0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1)]


def _neighbour_differences(magnitude: torch.Tensor) -> torch.Tensor:
    """``[B,8,H,W]``: each pixel's magnitude minus its neighbour's in each direction (0 outside)."""
    kernels = torch.zeros(8, 1, 3, 3, dtype=magnitude.dtype, device=magnitude.device)
    for k, (dy, dx) in enumerate(_DIRECTIONS):
        kernels[k, 0, 1, 1] = 1.0
        kernels[k, 0, 1 + dy, 1 + dx] = -1.0
    return F.conv2d(magnitude, kernels, padding=1)


def hysteresis(strong: torch.Tensor, weak: torch.Tensor) -> torch.Tensor:
    """Strong edges grown into the weak pixels they touch (8-neighbours), until nothing changes.

    ``strong`` and ``weak`` are boolean ``[B,1,H,W]``; weak pixels never reached are dropped.
    """
    while True:
        touching = F.max_pool2d(strong.float(), 3, stride=1, padding=1) > 0
        grown = strong | (weak & touching)
        if torch.equal(grown, strong):
            return strong
        strong = grown


def canny(
    gray: torch.Tensor, low_threshold: float, high_threshold: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(gradient magnitude after suppression, edges in {0, 1}) of ``[B,1,H,W]`` grey images."""
    window = torch.arange(5, dtype=gray.dtype, device=gray.device) - 2
    g = torch.exp(-(window**2) / 2.0)
    g = g / g.sum()
    mode = "reflect" if min(gray.shape[2:]) > 2 else "replicate"
    blurred = F.conv2d(F.pad(gray, (2, 2, 2, 2), mode=mode), (g[:, None] * g[None, :])[None, None])

    padded = F.pad(blurred, (1, 1, 1, 1), mode="replicate")
    sobel = torch.stack([_SOBEL_X, _SOBEL_X.T])[:, None].to(device=gray.device, dtype=gray.dtype)
    gx, gy = F.conv2d(padded, sobel).unbind(1)
    magnitude = torch.sqrt(gx * gx + gy * gy + 1e-6)[:, None]

    # Non-maximum suppression: keep a pixel only if it beats both neighbours along its gradient.
    angle = torch.round(torch.atan2(gy, gx) * (180.0 / math.pi) / 45.0) * 45.0
    forward = ((angle / 45.0) % 8).long()[:, None]
    backward = ((angle / 45.0 + 4) % 8).long()[:, None]
    differences = _neighbour_differences(magnitude)
    is_max = (differences.gather(1, forward) > 0) & (differences.gather(1, backward) > 0)
    magnitude = magnitude * is_max

    strong = magnitude > high_threshold
    weak = (magnitude > low_threshold) & ~strong
    return magnitude, hysteresis(strong, weak).to(gray.dtype)


class Canny:
    DESCRIPTION = (
        "Canny edge detection (pure torch, kornia's algorithm as ComfyUI uses it): grayscale, "
        "5x5 Gaussian blur, Sobel gradients, non-maximum suppression, double threshold on the "
        "gradient magnitude and hysteresis. Outputs white edges on black as an RGB image."
    )
    CATEGORY = "image/preprocessors"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "detect_edge"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The image to find edges in."}),
                "low_threshold": (
                    "FLOAT",
                    {
                        "default": 0.4,
                        "min": 0.01,
                        "max": 0.99,
                        "step": 0.01,
                        "tooltip": "Gradient magnitude above which a pixel is a weak edge.",
                    },
                ),
                "high_threshold": (
                    "FLOAT",
                    {
                        "default": 0.8,
                        "min": 0.01,
                        "max": 0.99,
                        "step": 0.01,
                        "tooltip": "Gradient magnitude above which a pixel is a strong edge.",
                    },
                ),
            }
        }

    def detect_edge(self, image, low_threshold, high_threshold):
        if low_threshold > high_threshold:
            raise ValueError(
                f"Canny: low_threshold ({low_threshold}) must not be above "
                f"high_threshold ({high_threshold})"
            )
        x = image.movedim(-1, 1).float()
        if x.shape[1] >= 3:
            weights = torch.tensor(_GRAY, dtype=x.dtype, device=x.device)[None, :, None, None]
            x = (x[:, :3] * weights).sum(1, keepdim=True)
        else:
            x = x[:, :1]
        _, edges = canny(x, low_threshold, high_threshold)
        return (edges.repeat(1, 3, 1, 1).movedim(1, -1),)


NODE_CLASS_MAPPINGS = {
    "ImageBlur": ImageBlur,
    "ImageSharpen": ImageSharpen,
    "ImageBlend": ImageBlend,
    "Canny": Canny,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "ImageBlur": "Image Blur",
    "ImageSharpen": "Image Sharpen",
    "ImageBlend": "Image Blend",
    "Canny": "Canny",
}
