"""Image nodes on tiny tensors: shapes, dtypes and hand-computed values."""

from __future__ import annotations

import pytest
import torch

from nodes.image import (
    EmptyImage,
    GetImageSize,
    ImageCompositeMasked,
    ImageCrop,
    ImageInvert,
    ImagePadForOutpaint,
    ImageScale,
    ImageScaleBy,
    ImageStitch,
)
from nodes.resize import CROP_METHODS, UPSCALE_METHODS


def grid(h: int, w: int, c: int = 3, batch: int = 1) -> torch.Tensor:
    """An image whose pixel (y, x) has value (y*w + x)/(h*w) in every channel."""
    values = torch.arange(h * w, dtype=torch.float32).reshape(1, h, w, 1) / (h * w)
    return values.expand(batch, h, w, c).clone()


def row(*values: float) -> torch.Tensor:
    """A 1-pixel-high grey image [1,1,W,3]."""
    return torch.tensor(values, dtype=torch.float32).reshape(1, 1, -1, 1).expand(1, 1, -1, 3)


def test_scale_method_and_crop_names_are_comfyuis():
    spec = ImageScale.INPUT_TYPES()["required"]
    assert spec["upscale_method"][0] == ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]
    assert spec["crop"][0] == ["disabled", "center"] == CROP_METHODS
    assert spec["upscale_method"][0] == UPSCALE_METHODS
    assert spec["width"][1]["min"] == 0 and spec["width"][1]["default"] == 512


def test_scale_nearest_repeats_pixels():
    image = grid(2, 2)
    (out,) = ImageScale().upscale(image, "nearest-exact", 4, 4, "disabled")
    assert out.shape == (1, 4, 4, 3) and out.dtype == torch.float32
    assert out[0, :, :, 0].tolist() == [[0, 0, 0.25, 0.25]] * 2 + [[0.5, 0.5, 0.75, 0.75]] * 2


def test_scale_bilinear_and_area_values():
    (out,) = ImageScale().upscale(row(0.0, 1.0), "bilinear", 4, 1, "disabled")
    assert out[0, 0, :, 0].tolist() == [0.0, 0.25, 0.75, 1.0]  # half-pixel centres, clamped
    (out,) = ImageScale().upscale(row(0.0, 0.25, 0.5, 1.0), "area", 2, 1, "disabled")
    assert out[0, 0, :, 0].tolist() == [0.125, 0.75]


def test_scale_lanczos_keeps_flat_images_flat_in_float():
    image = torch.full((1, 6, 6, 4), 0.3)
    (out,) = ImageScale().upscale(image, "lanczos", 3, 9, "disabled")
    assert out.shape == (1, 9, 3, 4)
    assert torch.allclose(out, torch.full_like(out, 0.3), atol=1e-6)  # not quantized to 1/255


def test_scale_lanczos_clamps_the_ringing_at_a_sharp_edge():
    step = torch.cat([torch.zeros(4), torch.ones(4)])[None, None, :, None].expand(1, 2, 8, 3)
    (out,) = ImageScale().upscale(step, "lanczos", 13, 2, "disabled")
    assert out.shape == (1, 2, 13, 3)
    assert out.min() == 0 and out.max() == 1  # unclamped, PIL gives -0.065 and 1.065
    assert out[0, 0, 0, 0] == 0 and out[0, 0, -1, 0] == 1


def test_scale_zero_keeps_the_aspect_ratio():
    image = grid(2, 4)
    assert ImageScale().upscale(image, "bilinear", 0, 0, "disabled")[0] is image
    assert ImageScale().upscale(image, "bilinear", 0, 4, "disabled")[0].shape == (1, 4, 8, 3)
    assert ImageScale().upscale(image, "bilinear", 2, 0, "disabled")[0].shape == (1, 1, 2, 3)


def test_scale_center_crop_cuts_to_the_target_aspect():
    image = grid(2, 4)  # aspect 2, target 1: one column off each side
    (out,) = ImageScale().upscale(image, "nearest-exact", 2, 2, "center")
    assert torch.equal(out, image[:, :, 1:3])
    image = grid(4, 2)
    (out,) = ImageScale().upscale(image, "nearest-exact", 2, 2, "center")
    assert torch.equal(out, image[:, 1:3])


def test_scale_by_rounds_the_size():
    image = grid(3, 5)
    (out,) = ImageScaleBy().upscale(image, "nearest-exact", 0.5)
    assert out.shape == (1, 2, 2, 3)  # round(1.5) = 2, round(2.5) = 2
    (out,) = ImageScaleBy().upscale(image, "bicubic", 2.0)
    assert out.shape == (1, 6, 10, 3)


def test_invert():
    (out,) = ImageInvert().invert(row(0.0, 0.25, 1.0))
    assert out[0, 0, :, 0].tolist() == [1.0, 0.75, 0.0]


def test_crop_takes_the_rectangle_and_clamps_its_corner():
    image = grid(4, 4)
    (out,) = ImageCrop().crop(image, 2, 3, 1, 1)
    assert out.shape == (1, 3, 2, 3)
    assert (out[0, :, :, 0] * 16).tolist() == [[5, 6], [9, 10], [13, 14]]
    (out,) = ImageCrop().crop(image, 512, 512, 10, 2)  # x clamped to 3, cut at the edges
    assert (out[0, :, :, 0] * 16).tolist() == [[11], [15]]


def test_pad_for_outpaint_image_and_hard_mask():
    image = torch.ones(2, 4, 4, 3)
    new, mask = ImagePadForOutpaint().expand_image(image, 2, 0, 0, 0, 1)
    assert new.shape == (2, 4, 6, 3) and mask.shape == (1, 4, 6)
    assert new[:, :, :2].eq(0.5).all() and new[:, :, 2:].eq(1.0).all()
    assert mask[0].tolist() == [[1, 1, 1, 0, 0, 0]] * 4  # feather 1: only the edge column


def test_pad_for_outpaint_feathering_is_comfyuis():
    image = torch.zeros(1, 6, 6, 3)
    _, mask = ImagePadForOutpaint().expand_image(image, 0, 1, 0, 1, 2)
    # top side: d = i; bottom side: d = 6 - i (so the last row is 1/4, not 1), v = ((2-d)/2)^2
    column = mask[0, :, 3].tolist()
    assert column == [1.0, 1.0, 0.25, 0.0, 0.0, 0.0, 0.25, 1.0]
    assert mask[0, 1].tolist() == [1.0] * 6
    # 2 * feathering must be smaller than the image, or there is no feathering at all
    _, mask = ImagePadForOutpaint().expand_image(image, 0, 1, 0, 0, 3)
    assert mask[0, 1:].sum() == 0 and mask[0, 0].eq(1).all()


def test_empty_image_colour():
    (out,) = EmptyImage().generate(4, 3, 2, 0xFF8000)
    assert out.shape == (2, 3, 4, 3) and out.dtype == torch.float32
    assert torch.equal(out[1, 2, 3], torch.tensor([1.0, 128 / 255, 0.0]))


def test_get_image_size():
    assert GetImageSize().get_size(torch.zeros(2, 3, 5, 3)) == (5, 3, 2)
    assert GetImageSize.RETURN_NAMES == ("width", "height", "batch_size")


# --- ImageStitch ---


def stitch(image1, image2=None, direction="right", match=False, spacing=0, color="white"):
    return ImageStitch().stitch(image1, direction, match, spacing, color, image2)[0]


def test_stitch_directions():
    a, b = torch.zeros(1, 2, 2, 3), torch.ones(1, 2, 3, 3)
    assert stitch(a) is a
    right = stitch(a, b, "right")
    assert right.shape == (1, 2, 5, 3) and right[0, 0, :, 0].tolist() == [0, 0, 1, 1, 1]
    left = stitch(a, b, "left")
    assert left[0, 0, :, 0].tolist() == [1, 1, 1, 0, 0]
    b = torch.ones(1, 1, 2, 3)
    assert stitch(a, b, "down")[0, :, 0, 0].tolist() == [0, 0, 1]
    assert stitch(a, b, "up")[0, :, 0, 0].tolist() == [1, 0, 0]


def test_stitch_without_matching_pads_the_smaller_with_black_centred():
    a, b = torch.ones(1, 2, 2, 3), torch.ones(1, 1, 5, 3)
    out = stitch(a, b, "down")
    assert out.shape == (1, 3, 5, 3)
    assert out[0, 0, :, 0].tolist() == [0, 1, 1, 0, 0]  # pad 3: 1 left, 2 right


def test_stitch_matching_resizes_image2_to_image1s_side():
    a, b = torch.zeros(1, 4, 2, 3), torch.full((1, 2, 3, 3), 0.5)
    out = stitch(a, b, "right", match=True)
    assert out.shape == (1, 4, 2 + 6, 3)  # image2 becomes 4 high, int(4 * 3/2) = 6 wide
    assert torch.allclose(out[:, :, 2:], torch.full((1, 4, 6, 3), 0.5), atol=1e-6)
    out = stitch(a, b, "down", match=True)
    assert out.shape == (1, 4 + 1, 2, 3)  # 2 wide, int(2 / 1.5) = 1 high


def test_stitch_spacing_is_even_and_coloured():
    a, b = torch.zeros(1, 1, 1, 4), torch.zeros(1, 1, 1, 4)
    out = stitch(a, b, "right", spacing=1, color="red")
    assert out.shape == (1, 1, 4, 4)
    assert out[0, 0, 1].tolist() == [1, 0, 0, 1] == out[0, 0, 2].tolist()  # alpha 1


def test_stitch_repeats_the_last_image_and_adds_alpha():
    a = torch.stack([torch.zeros(1, 1, 3), torch.ones(1, 1, 3)])
    b = torch.full((1, 1, 1, 4), 0.5)
    out = stitch(a, b, "right")
    assert out.shape == (2, 1, 2, 4)
    assert out[:, 0, 0].tolist() == [[0, 0, 0, 1], [1, 1, 1, 1]]
    assert out[:, 0, 1].tolist() == [[0.5] * 4, [0.5] * 4]


# --- ImageCompositeMasked ---


def composite(dest, source, x, y, resize=False, mask=None):
    return ImageCompositeMasked().composite(dest, source, x, y, resize, mask)[0]


def test_composite_pastes_at_x_y_and_clips_at_the_edges():
    dest, source = torch.zeros(1, 4, 4, 3), torch.ones(1, 2, 2, 3)
    out = composite(dest, source, 1, 2)
    assert out[0, :, :, 0].tolist() == [[0, 0, 0, 0], [0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0]]
    assert dest.sum() == 0  # the input is not modified
    out = composite(dest, source, 3, 3)
    assert out[0, :, :, 0].sum() == 1 and out[0, 3, 3, 0] == 1


def test_composite_with_mask_and_resize():
    dest, source = torch.zeros(2, 2, 2, 3), torch.ones(1, 1, 1, 3)
    out = composite(dest, source, 0, 0, mask=torch.full((1, 2, 2), 0.5))
    assert out[:, 0, 0].tolist() == [[0.5] * 3, [0.5] * 3]  # source repeats to the batch
    assert out[:, 1, 1].tolist() == [[0.0] * 3, [0.0] * 3]
    out = composite(dest, source, 0, 0, resize=True)
    assert out.eq(1).all()


def test_composite_channels():
    dest, source = torch.zeros(1, 1, 1, 4), torch.ones(1, 1, 1, 3)
    assert composite(dest, source, 0, 0)[0, 0, 0].tolist() == [1, 1, 1, 1]
    dest, source = torch.zeros(1, 1, 1, 3), torch.full((1, 1, 1, 4), 0.5)
    assert composite(dest, source, 0, 0).shape == (1, 1, 1, 3)


def test_composite_documents_its_channel_handling_as_a_difference():
    description = ImageCompositeMasked.DESCRIPTION
    assert "Difference from ComfyUI:" in description
    assert "RGBA" in description.split("Difference from ComfyUI:")[1]


@pytest.mark.parametrize(
    "cls, inputs",
    [
        (ImageScale, ["image", "upscale_method", "width", "height", "crop"]),
        (ImageScaleBy, ["image", "upscale_method", "scale_by"]),
        (ImageCrop, ["image", "width", "height", "x", "y"]),
        (ImagePadForOutpaint, ["image", "left", "top", "right", "bottom", "feathering"]),
        (EmptyImage, ["width", "height", "batch_size", "color"]),
        (
            ImageStitch,
            ["image1", "direction", "match_image_size", "spacing_width", "spacing_color"],
        ),
        (ImageCompositeMasked, ["destination", "source", "x", "y", "resize_source"]),
    ],
)
def test_input_names_are_comfyuis(cls, inputs):
    assert list(cls.INPUT_TYPES()["required"]) == inputs
