"""A small pixel-space U-Net that predicts the noise in an image (ε, or v: see schedule.py).

The whole architecture is described by a JSON-able config (``UNetConfig``), which the
checkpoint stores in its metadata, so a file alone is enough to rebuild the module.

Layout for the default config (32×32 RGB, ~1M parameters)::

    32×32 ─ res(16) ─────────────────────────────────────────── res(16) ─ out
      └ 16×16 ─ res(32) ───────────────────────────── res(32) ─ up ┘
          └ 8×8 ─ res(64) ─────────────────── res(64) ─ up ┘
              └ 4×4 ─ res(96) ─ mid ─ attention ─ res(96) ─ up ┘

Few channels at full resolution and most parameters at the coarse levels keep
it cheap on a CPU (training ~0.3 s per batch of 64 on 2 cores).

Each residual block adds a projection of the timestep embedding, so one
network denoises at every noise level; the skip connections carry the fine
detail that the coarse levels lose.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn
from torch.nn import functional as F


@dataclasses.dataclass(frozen=True)
class UNetConfig:
    """The architecture hyper-parameters of ``PixelUNet`` (stored as JSON in checkpoints)."""

    image_size: int = 32
    in_channels: int = 3
    channels: tuple[int, ...] = (16, 32, 64, 96)  # per resolution level, finest first
    attention: bool = True  # self-attention at the coarsest level
    groups: int = 8  # GroupNorm groups
    time_dim: int = 128

    # Bounds that keep even building the module (on the meta device, to check a
    # file's shapes) cheap, however the config in a file was made.
    LIMITS = {"image_size": 4096, "in_channels": 64, "groups": 4096, "time_dim": 8192}
    MAX_LEVELS, MAX_CHANNELS = 8, 4096

    def __post_init__(self) -> None:
        for name, limit in self.LIMITS.items():
            value = getattr(self, name)
            if not _is_int(value) or not 1 <= value <= limit:
                raise ValueError(f"{name} must be an integer from 1 to {limit}, not {value!r:.40}")
        if self.time_dim % 2:  # the embedding is sines and cosines of time_dim / 2 frequencies
            raise ValueError(f"time_dim must be even, not {self.time_dim}")
        if not isinstance(self.attention, bool):
            raise ValueError(f"attention must be true or false, not {self.attention!r:.40}")
        if not isinstance(self.channels, tuple) or not 1 <= len(self.channels) <= self.MAX_LEVELS:
            raise ValueError(f"channels must list 1 to {self.MAX_LEVELS} levels")
        if not all(_is_int(c) and 1 <= c <= self.MAX_CHANNELS for c in self.channels):
            raise ValueError(
                f"each level of channels must be an integer from 1 to {self.MAX_CHANNELS}"
            )

    @classmethod
    def from_dict(cls, data: dict) -> UNetConfig:
        if not isinstance(data, dict):
            raise ValueError(f"the UNet config is not a JSON object but {data!r:.40}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - fields)
        if unknown:
            raise ValueError(f"unknown UNet config fields: {', '.join(unknown):.200}")
        data = dict(data)
        if "channels" in data:
            if not isinstance(data["channels"], list):
                raise ValueError(f"channels must be a list, not {data['channels']!r:.40}")
            data["channels"] = tuple(data["channels"])
        return cls(**data)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["channels"] = list(self.channels)
        return data


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON's true is not 1


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps ``t`` [B] → [B, dim] (as in the Transformer)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    angles = t.float()[:, None] * freqs[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, time_dim: int, groups: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time = nn.Linear(time_dim, cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(temb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class Attention(nn.Module):
    """Single-head self-attention over the pixels of a (small) feature map."""

    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).unbind(1)
        a = F.scaled_dot_product_attention(
            q.transpose(1, 2)[:, None], k.transpose(1, 2)[:, None], v.transpose(1, 2)[:, None]
        )
        return x + self.out(a[:, 0].transpose(1, 2).reshape(b, c, h, w))


class PixelUNet(nn.Module):
    """Denoising U-Net: ``model(x_t, t)`` → predicted ε (or v), same shape as ``x_t``.

    ``x_t`` is [B, C, H, W] in the model's space (images scaled to -1..1), ``t``
    integer timesteps [B]. H and W must be divisible by 2^(levels-1).
    """

    def __init__(self, config: UNetConfig | None = None):
        super().__init__()
        self.config = config = config or UNetConfig()
        ch, g, td = config.channels, config.groups, config.time_dim
        self.time_mlp = nn.Sequential(nn.Linear(td, td), nn.SiLU(), nn.Linear(td, td))
        self.stem = nn.Conv2d(config.in_channels, ch[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        for i, c in enumerate(ch):
            self.down.append(ResBlock(ch[i - 1] if i else ch[0], c, td, g))
            if i < len(ch) - 1:
                self.downsample.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
        self.mid = ResBlock(ch[-1], ch[-1], td, g)
        self.attention = Attention(ch[-1], g) if config.attention else nn.Identity()
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i in reversed(range(len(ch))):
            # h arrives with ch[i] channels (the upsample conv maps to them), plus the skip
            self.up.append(ResBlock(2 * ch[i], ch[i], td, g))
            if i > 0:
                self.upsample.append(nn.Conv2d(ch[i], ch[i - 1], 3, padding=1))
        self.out_norm = nn.GroupNorm(g, ch[0])
        self.out = nn.Conv2d(ch[0], config.in_channels, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        temb = self.time_mlp(timestep_embedding(t, self.config.time_dim))
        h = self.stem(x)
        skips = []
        for i, block in enumerate(self.down):
            h = block(h, temb)
            skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
        h = self.attention(self.mid(h, temb))
        for i, block in enumerate(self.up):
            h = block(torch.cat([h, skips.pop()], dim=1), temb)
            if i < len(self.upsample):
                h = self.upsample[i](F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.out(F.silu(self.out_norm(h)))
