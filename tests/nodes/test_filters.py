"""ImageBlur, ImageSharpen, ImageBlend and Canny: hand-computed values on tiny images."""

from __future__ import annotations

import math

import pytest
import torch

from nodes.filters import Canny, ImageBlend, ImageBlur, ImageSharpen, gaussian_kernel, hysteresis

E_HALF, E_ONE = math.exp(-0.5), math.exp(-1.0)
# ComfyUI's 3x3 kernel (radius 1, sigma 1) over linspace(-1, 1): centre 1, edges e^-1/2, corners e^-1
KERNEL_SUM = 1 + 4 * E_HALF + 4 * E_ONE


def impulse(size: int = 3, value: float = 1.0, channels: int = 3) -> torch.Tensor:
    image = torch.zeros(1, size, size, channels)
    image[0, size // 2, size // 2] = value
    return image


def test_gaussian_kernel_is_comfyuis():
    kernel = gaussian_kernel(3, 1.0)
    expected = torch.tensor([[E_ONE, E_HALF, E_ONE], [E_HALF, 1, E_HALF], [E_ONE, E_HALF, E_ONE]])
    assert torch.allclose(kernel, expected / KERNEL_SUM)
    # sigma is relative to the radius: a radius-5 kernel with sigma 1 is as "wide" as radius 1
    assert torch.allclose(
        gaussian_kernel(11, 1.0)[5, 10] / gaussian_kernel(11, 1.0)[5, 5], torch.tensor(E_HALF)
    )


def test_blur_impulse_with_mirrored_edges():
    (out,) = ImageBlur().blur(impulse(), 1, 1.0)
    assert out.shape == (1, 3, 3, 3) and out.dtype == torch.float32
    plane = out[0, :, :, 0]
    assert plane[1, 1].item() == pytest.approx(1 / KERNEL_SUM)
    # the edge pixel sees the centre directly and once more through the mirror
    assert plane[0, 1].item() == pytest.approx(2 * E_HALF / KERNEL_SUM)
    assert plane[0, 0].item() == pytest.approx(4 * E_ONE / KERNEL_SUM)
    assert torch.equal(out[..., 0], out[..., 2])


def test_blur_keeps_flat_images_and_small_images_work():
    flat = torch.full((2, 4, 5, 3), 0.7)
    assert torch.allclose(ImageBlur().blur(flat, 3, 2.0)[0], flat)
    tiny = torch.full((1, 2, 2, 3), 0.2)
    assert torch.allclose(ImageBlur().blur(tiny, 5, 1.0)[0], tiny)  # radius > size


def test_sharpen_impulse_and_clamping():
    (out,) = ImageSharpen().sharpen(impulse(value=0.5), 1, 1.0, 0.1)
    plane = out[0, :, :, 0]
    # kernel = -g, centre raised by 1 - sum(-g) = 2: centre weight 2 - 1/S
    assert plane[1, 1].item() == pytest.approx(0.5 * (2 - 1 / KERNEL_SUM))
    assert plane[0, 0].item() == 0.0  # negative, clamped
    flat = torch.full((1, 4, 4, 3), 0.4)
    assert torch.allclose(ImageSharpen().sharpen(flat, 2, 1.0, 1.0)[0], flat, atol=1e-5)


@pytest.mark.parametrize(
    "mode, a, b, blended",
    [
        ("normal", 0.2, 0.6, 0.6),
        ("multiply", 0.2, 0.6, 0.12),
        ("screen", 0.2, 0.6, 1 - 0.8 * 0.4),
        ("overlay", 0.2, 0.6, 2 * 0.2 * 0.6),
        ("overlay", 0.8, 0.6, 1 - 2 * 0.2 * 0.4),
        ("soft_light", 0.2, 0.6, 0.2 + 0.2 * (((16 * 0.2 - 12) * 0.2 + 4) * 0.2 - 0.2)),
        ("soft_light", 0.2, 0.3, 0.2 - 0.4 * 0.2 * 0.8),
        ("soft_light", 0.64, 0.8, 0.64 + 0.6 * (0.8 - 0.64)),
        ("difference", 0.6, 0.2, 0.4),
        ("difference", 0.2, 0.6, -0.4),  # the result is clamped
    ],
)
def test_blend_modes(mode, a, b, blended):
    image1, image2 = torch.full((1, 1, 1, 3), a), torch.full((1, 1, 1, 3), b)
    for factor in (1.0, 0.5):
        (out,) = ImageBlend().blend_images(image1, image2, factor, mode)
        expected = min(1.0, max(0.0, a * (1 - factor) + blended * factor))
        assert out[0, 0, 0, 0].item() == pytest.approx(expected, abs=1e-6)


def test_blend_mode_names_and_resizing():
    assert ImageBlend.INPUT_TYPES()["required"]["blend_mode"][0] == [
        "normal",
        "multiply",
        "screen",
        "overlay",
        "soft_light",
        "difference",
    ]
    (out,) = ImageBlend().blend_images(
        torch.zeros(1, 4, 4, 3), torch.ones(1, 2, 2, 3), 0.5, "normal"
    )
    assert out.shape == (1, 4, 4, 3) and torch.allclose(out, torch.full_like(out, 0.5))


# --- Canny ---


def line_image(value: float = 1.0, size: int = 8, vertical: bool = True) -> torch.Tensor:
    """A 1-pixel line at column (or row) 3 on black."""
    image = torch.zeros(1, size, size, 3)
    if vertical:
        image[:, :, 3] = value
    else:
        image[:, 3, :] = value
    return image


def test_canny_finds_both_sides_of_a_line():
    # Blurred, the line's gradient peaks two pixels either side (|gx| = 4*(b3 - b1) = 1.39),
    # which beats the 0.8 high threshold; the line itself has zero gradient.
    (edges,) = Canny().detect_edge(line_image(), 0.4, 0.8)
    assert edges.shape == (1, 8, 8, 3) and edges.dtype == torch.float32
    expected = torch.zeros(8, 8)
    expected[:, 2] = expected[:, 4] = 1
    assert torch.equal(edges[0, :, :, 0], expected)
    assert torch.equal(edges[..., 0], edges[..., 2])
    (edges,) = Canny().detect_edge(line_image(vertical=False), 0.4, 0.8)
    assert torch.equal(edges[0, :, :, 1], expected.T)


def test_canny_double_threshold():
    # A half-bright line: magnitude 0.70 is only weak (0.4 < 0.70 < 0.8): no strong edge, nothing
    assert Canny().detect_edge(line_image(0.5), 0.4, 0.8)[0].sum() == 0
    assert Canny().detect_edge(line_image(0.5), 0.4, 0.6)[0][0, :, :, 0].sum() == 16
    with pytest.raises(ValueError, match="low_threshold"):
        Canny().detect_edge(line_image(), 0.8, 0.4)


def test_hysteresis_grows_strong_edges_through_touching_weak_pixels():
    strong = torch.zeros(1, 1, 5, 5, dtype=torch.bool)
    weak = torch.zeros_like(strong)
    strong[0, 0, 0, 0] = True
    for y, x in [(0, 1), (1, 2), (2, 2), (4, 4), (4, 0)]:  # a chain from (0,0), two strays
        weak[0, 0, y, x] = True
    out = hysteresis(strong, weak)[0, 0]
    assert out.nonzero().tolist() == [[0, 0], [0, 1], [1, 2], [2, 2]]


def test_canny_spec_is_comfyuis():
    spec = Canny.INPUT_TYPES()["required"]
    assert spec["low_threshold"][1]["default"] == 0.4
    assert spec["high_threshold"][1]["default"] == 0.8
    assert Canny.CATEGORY == "image/preprocessors"
