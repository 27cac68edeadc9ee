"""Nodes make their helper tensors on the input's device, never on the CPU by default.

Run on ``meta`` tensors (shapes only, no data): mixing a CPU tensor into arithmetic
or ``cat`` fails there just as it would on a GPU, so these tests need no GPU. Meta's
``conv2d`` does not check its weight's device, so a fixture checks it instead.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nodes import filters
from nodes.diffusion.images import grid
from nodes.filters import Canny, ImageBlur, ImageSharpen
from nodes.image import ImagePadForOutpaint, ImageStitch, add_channels

META = torch.device("meta")


def meta_image(batch=2, height=8, width=8, channels=3) -> torch.Tensor:
    return torch.empty(batch, height, width, channels, device=META)


@pytest.fixture(autouse=True)
def conv_weights_on_the_inputs_device(monkeypatch):
    conv2d = F.conv2d

    def checked(input, weight, *args, **kwargs):
        assert weight.device == input.device, (
            f"conv2d weight on {weight.device}, input on {input.device}"
        )
        return conv2d(input, weight, *args, **kwargs)

    monkeypatch.setattr(F, "conv2d", checked)


def test_a_cpu_tensor_mixed_into_meta_fails():
    """The premise of this file: otherwise these tests could not catch anything."""
    with pytest.raises(RuntimeError):
        torch.cat([torch.empty(1, 3, device=META), torch.ones(1, 1)], dim=-1)
    with pytest.raises(AssertionError):
        F.conv2d(torch.empty(1, 1, 4, 4, device=META), torch.ones(1, 1, 3, 3))


def test_blur_and_sharpen_stay_on_the_device():
    (blurred,) = ImageBlur().blur(meta_image(), 2, 1.0)
    (sharpened,) = ImageSharpen().sharpen(meta_image(), 1, 1.0, 1.0)
    assert blurred.device == sharpened.device == META
    assert blurred.shape == sharpened.shape == (2, 8, 8, 3)


def test_canny_stays_on_the_device(monkeypatch):
    # Hysteresis loops until nothing changes, which needs data; meta tensors have none.
    monkeypatch.setattr(filters, "hysteresis", lambda strong, weak: strong)
    (edges,) = Canny().detect_edge(meta_image(), 0.4, 0.8)
    assert edges.device == META and edges.shape == (2, 8, 8, 3)


@pytest.mark.parametrize("spacing", [0, 4])
@pytest.mark.parametrize("direction", ["right", "down"])
def test_stitch_and_its_alpha_and_spacing_stay_on_the_device(direction, spacing):
    rgba, rgb = meta_image(channels=4), meta_image(height=6, width=6)
    (out,) = ImageStitch().stitch(rgba, direction, False, spacing, "white", rgb)
    assert out.device == META and out.shape[-1] == 4
    assert add_channels(rgb, 4).device == META


def test_pad_for_outpaint_stays_on_the_device():
    image, mask = ImagePadForOutpaint().expand_image(meta_image(height=16, width=16), 8, 0, 8, 0, 4)
    assert image.device == mask.device == META
    assert image.shape == (2, 16, 32, 3) and mask.shape == (1, 16, 32)


def test_grid_stays_on_the_device():
    tiles = grid(meta_image(batch=3), padding=1)
    assert tiles.device == META and tiles.shape == (1, 2 * 8 + 3, 2 * 8 + 3, 3)
