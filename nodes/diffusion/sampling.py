"""The teaching pipeline's nodes: latents, the sampler, and the forward process.

The model works in pixel space, so a LATENT here is the image itself in the
model's layout: ``{"samples": tensor [B, 3, H, W]}`` scaled to -1..1 (ComfyUI's
LATENT dict and channels-first layout, with 3 channels and no VAE).

As with ComfyUI's EmptyLatentImage → KSampler, the seed lives on the sampler:
the empty latent only gives the shape, so re-running with another seed reruns
the sampler and what follows, nothing before it.
"""

from __future__ import annotations

import torch

from engine import progress

from ..primitives import SEED_MAX
from .images import grid
from .loader import DiffusionModel
from .schedule import add_noise, sample, timesteps_for

SAMPLERS = {"ddim": 0.0, "ddpm": 1.0}  # sampler name → eta (fresh noise per step)


def image_to_latent(image: torch.Tensor) -> torch.Tensor:
    """IMAGE [B,H,W,C] in 0..1 → model space [B,3,H,W] in -1..1 (RGB only)."""
    return image[..., :3].permute(0, 3, 1, 2).float() * 2 - 1


def latent_to_image(x: torch.Tensor) -> torch.Tensor:
    """Model space [B,C,H,W] → IMAGE [B,H,W,C] in 0..1 (clamped)."""
    return ((x.float().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).contiguous()


def _check_shape(model: DiffusionModel, x: torch.Tensor) -> None:
    _, c, h, w = x.shape
    if c != model.channels:
        raise ValueError(f"the model works on {model.channels}-channel images, got {c} channels")
    m = model.size_multiple
    if h % m or w % m:
        raise ValueError(f"width and height must be multiples of {m} for this model, got {w}×{h}")


class EmptyPixelLatent:
    DESCRIPTION = (
        "An empty pixel-space latent: the canvas the sampler fills. Only its size matters at "
        "denoise 1.0; the noise comes from the sampler's seed (as EmptyLatentImage with "
        "KSampler in ComfyUI, but 3 channels at full resolution: there is no VAE)."
    )
    CATEGORY = "diffusion"
    RETURN_TYPES = ("LATENT",)
    OUTPUT_TOOLTIPS = ("Zeros [batch, 3, height, width] (a grey image in model space).",)
    FUNCTION = "generate"

    @classmethod
    def INPUT_TYPES(cls):
        size = {"default": 32, "min": 8, "max": 512, "step": 8}
        return {
            "required": {
                "width": ("INT", {**size, "tooltip": "Width in pixels (a multiple of 8)."}),
                "height": ("INT", {**size, "tooltip": "Height in pixels (a multiple of 8)."}),
                "batch_size": (
                    "INT",
                    {"default": 1, "min": 1, "max": 256, "tooltip": "How many images to sample."},
                ),
            }
        }

    def generate(self, width, height, batch_size):
        return ({"samples": torch.zeros(batch_size, 3, height, width)},)


class PixelLatentFromImage:
    DESCRIPTION = (
        "Turns an IMAGE into a pixel-space latent (channels first, scaled to -1..1; alpha "
        "dropped), e.g. to start the sampler from it with denoise < 1 (img2img)."
    )
    CATEGORY = "diffusion"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "encode"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE", {"tooltip": "The images to start from."})}}

    def encode(self, image):
        return ({"samples": image_to_latent(image)},)


class DiffusionSampler:
    DESCRIPTION = (
        "Samples images with a pixel-space diffusion model. ddim is deterministic for a seed; "
        "ddpm adds fresh noise at every step (ancestral sampling on the respaced schedule). "
        "denoise < 1 starts part-way through the noise schedule from latent_image "
        "(img2img), keeping its coarse layout. Each step reports progress with a preview "
        "of the current estimate of the final images, and stops there if interrupted."
    )
    CATEGORY = "diffusion"
    RETURN_TYPES = ("IMAGE", "LATENT")
    RETURN_NAMES = ("IMAGE", "LATENT")
    OUTPUT_TOOLTIPS = ("The sampled images.", "The same, as a pixel-space latent.")
    FUNCTION = "sample"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": ("DIFFUSION_MODEL", {"tooltip": "The denoising model."}),
                "seed": (
                    "INT",
                    {
                        "default": 0,
                        "min": 0,
                        "max": SEED_MAX,
                        "control_after_generate": True,
                        "tooltip": "The random seed of the starting noise (and of ddpm's "
                        "per-step noise).",
                    },
                ),
                "steps": (
                    "INT",
                    {
                        "default": 20,
                        "min": 1,
                        "max": 1000,
                        "tooltip": "Denoising steps: more is slower and usually cleaner.",
                    },
                ),
                "sampler_name": (
                    list(SAMPLERS),
                    {"default": "ddim", "tooltip": "ddim (deterministic) or ddpm (stochastic)."},
                ),
                "latent_image": (
                    "LATENT",
                    {"tooltip": "The canvas (EmptyPixelLatent), or an image to rework."},
                ),
                "denoise": (
                    "FLOAT",
                    {
                        "default": 1.0,
                        "min": 0.0,
                        "max": 1.0,
                        "step": 0.01,
                        "tooltip": "How much of the noise schedule to run: 1.0 ignores the "
                        "latent's content, less keeps more of it.",
                    },
                ),
            }
        }

    def sample(self, model, seed, steps, sampler_name, latent_image, denoise):
        start = latent_image["samples"].float()
        _check_shape(model, start)
        if denoise <= 0:
            return (latent_to_image(start), {"samples": start.clone()})
        generator = torch.Generator().manual_seed(seed)
        noise = torch.randn(start.shape, generator=generator)
        timesteps = timesteps_for(steps, denoise, model.timesteps)
        x = add_noise(start, timesteps[0], noise, model.abar)

        def report(i, x0):
            # Also the interrupt check: raises at this step boundary if the user stopped.
            progress.update(i + 1, len(timesteps), preview=grid(latent_to_image(x0[:16])))

        eta = SAMPLERS[sampler_name]
        prediction = model.diffusion.prediction
        x = sample(model, x, timesteps, model.abar, eta, generator, report, prediction)
        return (latent_to_image(x), {"samples": x})


class DiffusionAddNoise:
    DESCRIPTION = (
        "The forward process: the image as the model sees it at timestep t, "
        "x_t = sqrt(abar_t)·x_0 + sqrt(1 - abar_t)·noise. t = 0 is almost clean, the last "
        "timestep almost pure noise. Outputs the noisy image (clamped to 0..1 for viewing) "
        "and the exact x_t as a latent (sample it back with denoise = t / (T - 1))."
    )
    CATEGORY = "diffusion"
    RETURN_TYPES = ("IMAGE", "LATENT")
    RETURN_NAMES = ("IMAGE", "LATENT")
    OUTPUT_TOOLTIPS = ("x_t for viewing (clamped to 0..1).", "x_t, unclamped.")
    FUNCTION = "add_noise"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": ("DIFFUSION_MODEL", {"tooltip": "Whose noise schedule to use."}),
                "image": ("IMAGE", {"tooltip": "The clean images x_0."}),
                "timestep": (
                    "INT",
                    {
                        "default": 250,
                        "min": 0,
                        "max": 9999,
                        "tooltip": "t, from 0 to the model's timesteps - 1 (999 usually).",
                    },
                ),
                "seed": (
                    "INT",
                    {
                        "default": 0,
                        "min": 0,
                        "max": SEED_MAX,
                        "control_after_generate": True,
                        "tooltip": "The random seed of the noise.",
                    },
                ),
            }
        }

    def add_noise(self, model, image, timestep, seed):
        if timestep >= model.timesteps:
            raise ValueError(
                f"timestep {timestep} is past the model's last timestep ({model.timesteps - 1})"
            )
        x0 = image_to_latent(image)
        noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
        x_t = add_noise(x0, timestep, noise, model.abar)
        return (latent_to_image(x_t), {"samples": x_t})
