"""Sample quality of the shipped teaching model, judged against an untrained twin.

Both models have the same architecture and the same sampler, seed and steps;
only the weights differ. Two statistics, each per sample:

- distance to data: the RMS pixel distance from a sample to its nearest
  neighbour among 512 fresh generator images (seeds never used in training);
- palette fraction: the share of a sample's pixels within 0.12 of a colour of the
  generator's palette (generator images score ~0.96).

"Significantly better" is a rank test: of the 16 × 16 (trained, untrained)
pairs of samples, the trained one must win at least 240 (Mann-Whitney U; under
the null hypothesis of equal distributions, U ≥ 240 of 256 has p < 1e-6).
Absolute floors keep the test from passing against a merely worse baseline.
"""

from __future__ import annotations

import pytest
import torch

from nodes.diffusion import files
from nodes.diffusion.loader import DiffusionModel, load_diffusion_model
from nodes.diffusion.sampling import DiffusionSampler
from nodes.diffusion.shapes import palette_fraction, shapes
from nodes.diffusion.unet import PixelUNet, UNetConfig

SAMPLES = 16


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


@pytest.fixture(scope="module")
def samples():
    files.configure_models_dir(None)
    trained = load_diffusion_model(files.find_model(files.DEFAULT_MODEL))
    torch.manual_seed(0)
    untrained = DiffusionModel(
        PixelUNet(UNetConfig.from_dict(trained.network.config.to_dict())).eval(),
        trained.diffusion,
    )
    return draw(trained), draw(untrained)


def test_samples_are_closer_to_the_data_than_an_untrained_models(samples):
    trained, untrained = samples
    data = shapes(512, 32, seed=987_654_321)
    near_trained = nearest_distance(trained, data)
    near_untrained = nearest_distance(untrained, data)
    assert wins(near_trained, near_untrained) >= 240, (near_trained, near_untrained)
    assert near_trained.median() < 0.5 * near_untrained.median()


def test_samples_use_the_palette_of_the_data(samples):
    trained, untrained = samples
    on_palette, off_palette = palette_fraction(trained), palette_fraction(untrained)
    assert wins(-on_palette, -off_palette) >= 240, (on_palette, off_palette)
    assert on_palette.median() > 0.6
