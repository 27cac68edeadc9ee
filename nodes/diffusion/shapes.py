"""The teaching data set: coloured shapes on plain backgrounds, drawn procedurally.

``shapes(n, size, seed)`` returns ``n`` images as an IMAGE tensor [n, size, size, 3]
in 0..1. The same seed gives the same images on every machine (the draw uses a
``torch.Generator`` on the CPU), so training needs no download and tests can
compare a model's samples with fresh images from the same distribution.

Each image: a background colour from ``BACKGROUNDS``, then one or two shapes
(disc, square, triangle) in a colour from ``COLOURS``, with anti-aliased edges
(coverage of the pixel by the shape, from a signed distance).
"""

from __future__ import annotations

import torch

# Dark, muted backgrounds and bright shape colours: a sample is "on distribution"
# when most of its pixels are close to one of these.
BACKGROUNDS = torch.tensor(
    [
        [0.10, 0.10, 0.14],
        [0.15, 0.22, 0.35],
        [0.20, 0.30, 0.18],
        [0.35, 0.18, 0.18],
        [0.92, 0.90, 0.84],
    ]
)
COLOURS = torch.tensor(
    [
        [0.90, 0.20, 0.20],
        [0.95, 0.60, 0.10],
        [0.95, 0.88, 0.20],
        [0.25, 0.75, 0.30],
        [0.20, 0.75, 0.85],
        [0.25, 0.35, 0.90],
        [0.65, 0.30, 0.80],
    ]
)
PALETTE = torch.cat([BACKGROUNDS, COLOURS])
KINDS = ("disc", "square", "triangle")
MAX_SHAPES = 2


def shapes(n: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    """``n`` images [n, size, size, 3] (float32, 0..1), the same for the same seed."""
    g = torch.Generator().manual_seed(seed)
    background = BACKGROUNDS[torch.randint(len(BACKGROUNDS), (n,), generator=g)]
    image = background[:, None, None, :].expand(n, size, size, 3).clone()
    count = torch.randint(1, MAX_SHAPES + 1, (n,), generator=g)
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    for slot in range(MAX_SHAPES):
        kind = torch.randint(len(KINDS), (n,), generator=g)
        colour = COLOURS[torch.randint(len(COLOURS), (n,), generator=g)]
        radius = size * (0.12 + 0.16 * torch.rand(n, generator=g))
        # Keep the shape inside the frame.
        cx = radius + (size - 2 * radius) * torch.rand(n, generator=g)
        cy = radius + (size - 2 * radius) * torch.rand(n, generator=g)
        dx = xs[None] - cx[:, None, None]
        dy = ys[None] - cy[:, None, None]
        r = radius[:, None, None]
        # Signed distances (negative inside), one per kind.
        disc = (dx**2 + dy**2).sqrt() - r
        square = torch.maximum(dx.abs(), dy.abs()) - 0.85 * r
        triangle = _triangle(dx, dy, r)
        distance = torch.stack([disc, square, triangle], 1)[torch.arange(n), kind]
        coverage = (0.5 - distance).clamp(0, 1)
        coverage = coverage * (slot < count).float()[:, None, None]
        image = image + coverage[..., None] * (colour[:, None, None, :] - image)
    return image


def _triangle(dx: torch.Tensor, dy: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Signed distance (approximately, exact on the edges) to an upright triangle of radius r."""
    # The three edges' outward normals; the triangle is their intersection.
    s3 = 3**0.5 / 2
    d1 = dy - 0.5 * r  # bottom edge
    d2 = -s3 * dx - 0.5 * dy - 0.5 * r  # upper-left edge... normal (-√3/2, -1/2)
    d3 = s3 * dx - 0.5 * dy - 0.5 * r  # upper-right edge
    return torch.maximum(d1, torch.maximum(d2, d3))


def palette_fraction(images: torch.Tensor, tolerance: float = 0.12) -> torch.Tensor:
    """Per image, the fraction of pixels within ``tolerance`` (RGB distance) of a palette colour.

    Generator images score close to 1 (only anti-aliased edge pixels miss);
    noise scores close to 0. A sample-quality statistic that needs no model.
    """
    pixels = images.reshape(images.shape[0], -1, 1, 3)
    distance = (pixels - PALETTE.to(images)[None, None]).norm(dim=-1).min(dim=-1).values
    return (distance < tolerance).float().mean(dim=1)
