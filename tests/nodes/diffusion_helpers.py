"""Small model files for the diffusion tests, written into a test's own models folder."""

from __future__ import annotations

import torch

from nodes.diffusion.checkpoint import save_checkpoint
from nodes.diffusion.unet import PixelUNet, UNetConfig

# Two levels of 8 and 16 channels: a few thousand parameters, milliseconds per step.
TINY = UNetConfig(image_size=8, channels=(8, 16), attention=True, groups=4, time_dim=16)


def tiny_unet(config: UNetConfig = TINY, seed: int = 0) -> PixelUNet:
    torch.manual_seed(seed)
    return PixelUNet(config)


def write_model(path, config: UNetConfig = TINY, seed: int = 0, **kwargs):
    """Write a randomly initialised PixelUNet to ``path``; returns the module."""
    path.parent.mkdir(parents=True, exist_ok=True)
    module = tiny_unet(config, seed)
    kwargs.setdefault("extra", {"diffusion": {"timesteps": 100, "schedule": "cosine"}})
    save_checkpoint(module, path, "PixelUNet", config.to_dict(), dtype=None, **kwargs)
    return module
