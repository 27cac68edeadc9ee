"""Sample quality of the shipped teaching model, judged against an untrained twin.

Both models have the same architecture and the same sampler, seed and steps;
only the weights differ. Three statistics, each per sample:

- distance to data: the RMS pixel distance from a sample to its nearest
  neighbour among 512 fresh generator images (seeds never used in training);
- palette fraction: the share of a sample's pixels within 0.12 of a colour of the
  generator's palette, backgrounds included (generator images score ~0.96);
- shape fraction: the share of pixels within 0.12 (max abs over channels) of a
  *shape* colour, backgrounds excluded.

"Significantly better" is a rank test: of the 16 × 16 (trained, untrained)
pairs of samples, the trained one must win at least 240 (Mann-Whitney U; under
the null hypothesis of equal distributions, the exact one-sided p-value of
U ≥ 240 of 256 is ≈ 1.5e-6, computed by ``exact_p_value`` below).

Rank tests against an untrained model cannot tell a good model from a collapsed
one: 16 flat background-colour images are closer to the data and more "on
palette" than the trained samples. So two statistics are anchored to fresh
generator images instead. Measured with the shipped weights (20 DDIM steps,
seed 0): shape fraction median 0.072 (15 of 16 samples > 0.01), fresh generator
images 0.14, flat backgrounds 0; nearest-neighbour distance median 0.119,
fresh generator images 0.110.
"""

from __future__ import annotations

import math

import pytest
import torch

from nodes.diffusion import files
from nodes.diffusion.loader import DiffusionModel, load_diffusion_model
from nodes.diffusion.sampling import DiffusionSampler
from nodes.diffusion.shapes import BACKGROUNDS, COLOURS, palette_fraction, shapes
from nodes.diffusion.unet import PixelUNet, UNetConfig

SAMPLES = 16
# Seeds never used in training, one set per role.
DATA_SEED = 987_654_321
FRESH_SEED = 123_456_789


def draw(model: DiffusionModel) -> torch.Tensor:
    latent = {"samples": torch.zeros(SAMPLES, 3, 32, 32)}
    images, _ = DiffusionSampler().sample(model, 0, 20, "ddim", latent, 1.0)
    return images


def nearest_distance(samples: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
    """Per sample, the RMS pixel distance to the closest data image."""
    d = torch.cdist(samples.reshape(len(samples), -1), data.reshape(len(data), -1))
    return d.min(dim=1).values / samples[0].numel() ** 0.5


def wins(better: torch.Tensor, worse: torch.Tensor) -> int:
    """Mann-Whitney U: pairs (b, w) with b < w."""
    return int((better[:, None] < worse[None, :]).sum())


def exact_p_value(u: int, m: int = SAMPLES, n: int = SAMPLES) -> float:
    """P(U ≥ u) for two samples of sizes m and n from the same distribution (no ties).

    Counts the orderings of m + n values with exactly k wins: c(m, n, k) =
    c(m - 1, n, k - n) + c(m, n - 1, k), by where the largest value falls.
    """
    counts = [[[0] * (m * n + 1) for _ in range(n + 1)] for _ in range(m + 1)]
    for i in range(m + 1):
        for j in range(n + 1):
            if i == 0 or j == 0:
                counts[i][j][0] = 1
                continue
            for k in range(i * j + 1):
                counts[i][j][k] = counts[i][j - 1][k] + (counts[i - 1][j][k - j] if k >= j else 0)
    return sum(counts[m][n][u:]) / math.comb(m + n, m)


def shape_fraction(images: torch.Tensor, tolerance: float = 0.12) -> torch.Tensor:
    """Per image, the share of pixels within ``tolerance`` (max abs over RGB) of a shape colour.

    Background colours are excluded on purpose: a model that collapsed to flat
    backgrounds scores 0, where the palette fraction would give it 1.
    """
    pixels = images.reshape(images.shape[0], -1, 1, 3)
    distance = (pixels - COLOURS.to(images)[None, None]).abs().amax(dim=-1).min(dim=-1).values
    return (distance <= tolerance).float().mean(dim=1)


def flat_backgrounds(n: int = SAMPLES) -> torch.Tensor:
    """A collapsed model's output: every image one plain background colour."""
    colour = BACKGROUNDS[torch.arange(n) % len(BACKGROUNDS)]
    return colour[:, None, None, :].expand(n, 32, 32, 3).clone()


def has_shapes(images: torch.Tensor) -> bool:
    """The shape-statistic verdict: median share > 0.03 and at least 12 of 16 samples > 0.01."""
    fraction = shape_fraction(images)
    return bool(fraction.median() > 0.03 and (fraction > 0.01).sum() >= 12)


@pytest.fixture(scope="module")
def samples():
    trained = load_diffusion_model(files.find_model(files.DEFAULT_MODEL))
    torch.manual_seed(0)
    untrained = DiffusionModel(
        PixelUNet(UNetConfig.from_dict(trained.network.config.to_dict())).eval(),
        trained.diffusion,
    )
    return draw(trained), draw(untrained)


def test_samples_are_closer_to_the_data_than_an_untrained_models(samples):
    trained, untrained = samples
    data = shapes(512, 32, seed=DATA_SEED)
    near_trained = nearest_distance(trained, data)
    near_untrained = nearest_distance(untrained, data)
    assert wins(near_trained, near_untrained) >= 240, (near_trained, near_untrained)
    assert near_trained.median() < 0.5 * near_untrained.median()


def test_samples_use_the_palette_of_the_data(samples):
    trained, untrained = samples
    on_palette, off_palette = palette_fraction(trained), palette_fraction(untrained)
    assert wins(-on_palette, -off_palette) >= 240, (on_palette, off_palette)
    assert on_palette.median() > 0.6


def test_the_rank_threshold_is_significant():
    assert exact_p_value(240) == pytest.approx(1.52e-6, rel=0.01)
    assert exact_p_value(0) == 1.0


def test_samples_are_as_close_to_the_data_as_fresh_generator_images(samples):
    trained, _ = samples
    data = shapes(512, 32, seed=DATA_SEED)
    fresh = shapes(SAMPLES, 32, seed=FRESH_SEED)
    near_trained = nearest_distance(trained, data).median()
    near_fresh = nearest_distance(fresh, data).median()
    assert near_trained <= 1.5 * near_fresh, (near_trained, near_fresh)


def test_samples_draw_shapes_not_just_backgrounds(samples):
    trained, _ = samples
    assert has_shapes(trained), shape_fraction(trained)
    assert has_shapes(shapes(SAMPLES, 32, seed=FRESH_SEED))


def test_the_shape_statistic_fails_a_collapsed_model():
    flat = flat_backgrounds()
    assert not has_shapes(flat)
    assert shape_fraction(flat).max() == 0
