"""The noise schedule and the samplers (DDPM, DDIM) of a pixel-space diffusion model (ε- or v-prediction).

Notation (Ho et al. 2020; Song et al. 2021): images x₀ scaled to -1..1; the
forward process makes x_t = √ᾱ_t · x₀ + √(1-ᾱ_t) · ε with ε ~ N(0, I) for
t = 0..T-1, where ᾱ_t (``alphas_cumprod``) falls from ~1 to ~0. The model
predicts ε ("epsilon") or v = √ᾱ_t · ε - √(1-ᾱ_t) · x₀ ("v", Salimans & Ho
2022) from (x_t, t); either gives estimates of both x₀ and ε. v stays well
conditioned at the noisiest steps, where recovering x₀ from ε divides by √ᾱ_t ≈ 0.

Both samplers walk a decreasing subsequence of timesteps with the DDIM update;
``eta`` sets how much fresh noise each step adds: 0 is DDIM (deterministic given
the starting noise), 1 is DDPM's ancestral step on the respaced schedule (its
posterior variance β̃).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import torch


@dataclasses.dataclass(frozen=True)
class DiffusionConfig:
    """How a model was trained to denoise (stored as JSON in checkpoints).

    Every field is checked on construction: a file's config may be anything, and
    the schedule allocates a few numbers per timestep.
    """

    timesteps: int = 1000
    schedule: str = "cosine"  # "cosine" (Nichol & Dhariwal 2021) or "linear" (Ho et al.)
    prediction: str = "epsilon"  # what the network outputs: "epsilon" or "v"

    MAX_TIMESTEPS = 10_000  # ten times the usual 1000; its schedule takes under 1 MB

    def __post_init__(self) -> None:
        T = self.timesteps
        if isinstance(T, bool) or not isinstance(T, int) or not 1 <= T <= self.MAX_TIMESTEPS:
            raise ValueError(
                f"timesteps must be an integer from 1 to {self.MAX_TIMESTEPS}, not {T!r:.40}"
            )
        if not isinstance(self.schedule, str) or self.schedule not in ("cosine", "linear"):
            raise ValueError(f"unknown noise schedule {self.schedule!r:.40}")
        if self.schedule == "linear" and T <= 20:
            # Its betas end at 0.02 * 1000 / T: at T <= 20 that is 1 or more, and ᾱ_t
            # reaches 0 or below (x̂₀ would divide by zero or take a negative root).
            raise ValueError(f"the linear schedule needs more than 20 timesteps, not {T}")
        if not isinstance(self.prediction, str) or self.prediction not in ("epsilon", "v"):
            raise ValueError(f"unknown prediction {self.prediction!r:.40} ('epsilon' or 'v')")

    @classmethod
    def from_dict(cls, data: dict) -> DiffusionConfig:
        if not isinstance(data, dict):
            raise ValueError(f"the diffusion config is not a JSON object but {data!r:.40}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - fields)
        if unknown:
            raise ValueError(f"unknown diffusion config fields: {', '.join(unknown):.200}")
        return cls(**data)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def alphas_cumprod(config: DiffusionConfig) -> torch.Tensor:
    """ᾱ_t for t = 0..T-1 (float64, decreasing)."""
    T = config.timesteps
    if config.schedule == "linear":
        betas = torch.linspace(1e-4 * 1000 / T, 0.02 * 1000 / T, T, dtype=torch.float64)
        return torch.cumprod(1 - betas, 0)
    s = 0.008
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, 0)


def add_noise(x0: torch.Tensor, t: int, noise: torch.Tensor, abar: torch.Tensor) -> torch.Tensor:
    """x_t from x₀ in one jump (the forward process at step ``t``)."""
    a = abar[t].item()
    return math.sqrt(a) * x0 + math.sqrt(1 - a) * noise


def timesteps_for(steps: int, denoise: float, T: int) -> list[int]:
    """The decreasing timesteps a sampler visits: ``steps`` of them, from ``denoise``·(T-1) down.

    denoise = 1 starts from pure noise (t = T-1); smaller values start part-way,
    which keeps the coarse structure of the input image (img2img).
    """
    start = round(denoise * (T - 1))
    if steps > start + 1:
        steps = start + 1
    ts = torch.linspace(start, 0, steps).round().long().tolist()
    return list(dict.fromkeys(ts))  # drop duplicates, keep the order


def x0_estimate(
    output: torch.Tensor, x: torch.Tensor, a_t: float, prediction: str = "epsilon"
) -> torch.Tensor:
    """x̂₀ from the network's ``output`` (ε or v) at x_t = ``x`` with ᾱ_t = ``a_t``."""
    if prediction == "v":
        return math.sqrt(a_t) * x - math.sqrt(1 - a_t) * output
    return (x - math.sqrt(1 - a_t) * output) / math.sqrt(a_t)


def training_target(
    x0: torch.Tensor, noise: torch.Tensor, abar_t: torch.Tensor, prediction: str
) -> torch.Tensor:
    """What the network should output for x_t made from ``x0`` and ``noise`` (ᾱ_t per item)."""
    if prediction == "v":
        return abar_t.sqrt() * noise - (1 - abar_t).sqrt() * x0
    return noise


@torch.no_grad()  # not inference_mode: its tensors refuse in-place ops and autograd downstream
def sample(
    model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    timesteps: list[int],
    abar: torch.Tensor,
    eta: float,
    generator: torch.Generator,
    callback: Callable[[int, torch.Tensor], None] | None = None,
    prediction: str = "epsilon",
) -> torch.Tensor:
    """Denoise ``x`` (which is x_t at ``timesteps[0]``) down to an estimate of x₀.

    ``model(x, t)`` outputs ε or v (``prediction``). ``callback(i, x0_estimate)``
    runs after each step i (0-based); it may raise to stop the sampling there.
    """
    for i, t in enumerate(timesteps):
        a_t = abar[t].item()
        a_prev = abar[timesteps[i + 1]].item() if i + 1 < len(timesteps) else 1.0
        output = model(x, torch.full((x.shape[0],), t, dtype=torch.long))
        x0 = x0_estimate(output, x, a_t, prediction).clamp(-1, 1)
        # ε̂ from the clamped x̂₀ (not from the output), so the step stays consistent with it.
        eps = (x - math.sqrt(a_t) * x0) / math.sqrt(1 - a_t)
        sigma = eta * math.sqrt((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev))
        x = math.sqrt(a_prev) * x0 + math.sqrt(max(1 - a_prev - sigma**2, 0.0)) * eps
        if sigma > 0:
            x = x + sigma * torch.randn(x.shape, generator=generator, dtype=x.dtype)
        if callback is not None:
            callback(i, x0)
    return x
