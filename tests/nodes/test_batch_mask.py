"""Batch and mask nodes: shapes, dtypes and values; RebatchImages through the engine."""

from __future__ import annotations

import pytest
import torch

from nodes.batch import ImageBatch, ImageFromBatch, RebatchImages, RepeatImageBatch
from nodes.mask import ImageToMask, InvertMask, MaskToImage, SolidMask


def numbered(batch: int, h: int = 1, w: int = 1) -> torch.Tensor:
    """A batch whose image i is filled with i / 10."""
    return (
        (torch.arange(batch, dtype=torch.float32) / 10)
        .reshape(-1, 1, 1, 1)
        .expand(batch, h, w, 3)
        .clone()
    )


def ids(images: torch.Tensor) -> list[int]:
    return [round(v * 10) for v in images[:, 0, 0, 0].tolist()]


def test_image_batch_joins_and_resizes_the_second():
    (out,) = ImageBatch().batch(numbered(2), numbered(3))
    assert out.shape == (5, 1, 1, 3) and ids(out) == [0, 1, 0, 1, 2]
    (out,) = ImageBatch().batch(torch.zeros(1, 2, 2, 3), torch.ones(1, 4, 8, 3))
    assert out.shape == (2, 2, 2, 3) and out[1].eq(1).all()


def test_image_batch_adds_alpha_when_channels_differ():
    (out,) = ImageBatch().batch(torch.zeros(1, 1, 1, 4), torch.zeros(1, 1, 1, 3))
    assert out.shape == (2, 1, 1, 4) and out[1, 0, 0].tolist() == [0, 0, 0, 1]


@pytest.mark.parametrize(
    "index, length, expected",
    [(1, 2, [1, 2]), (0, 1, [0]), (2, 10, [2, 3]), (10, 1, [3]), (10, 5, [3])],
)
def test_image_from_batch(index, length, expected):
    (out,) = ImageFromBatch().frombatch(numbered(4), index, length)
    assert ids(out) == expected


def test_repeat_image_batch_repeats_the_whole_batch():
    (out,) = RepeatImageBatch().repeat(numbered(2, 2, 3), 3)
    assert out.shape == (6, 2, 3, 3) and ids(out) == [0, 1, 0, 1, 0, 1]


def test_rebatch_images_regroups_a_list_of_batches():
    (out,) = RebatchImages().rebatch([numbered(2), numbered(3)], [2])
    assert [ids(b) for b in out] == [[0, 1], [0, 1], [2]]


def test_rebatch_images_through_the_engine(ex):
    prompt = {
        "e": {
            "class_type": "EmptyImage",
            "inputs": {"width": 2, "height": 2, "batch_size": 5, "color": 0},
        },
        "r": {"class_type": "RebatchImages", "inputs": {"images": ["e", 0], "batch_size": 2}},
        "s": {"class_type": "GetImageSize", "inputs": {"image": ["r", 0]}},
        "show": {"class_type": "PreviewAny", "inputs": {"source": ["s", 2]}},
    }
    r = ex.execute(prompt)
    assert r.status == "success"
    (batches,) = ex.get_output("r")  # one output slot, a list (OUTPUT_IS_LIST)
    assert [b.shape[0] for b in batches] == [2, 2, 1]
    assert r.outputs["show"] == {"text": ["2", "2", "1"]}


# --- masks ---


def test_image_to_mask_picks_a_channel():
    image = torch.tensor([0.1, 0.2, 0.3, 0.4]).expand(2, 3, 4, 4)
    for index, channel in enumerate(["red", "green", "blue", "alpha"]):
        (mask,) = ImageToMask().image_to_mask(image, channel)
        assert mask.shape == (2, 3, 4) and torch.allclose(
            mask, torch.full((2, 3, 4), 0.1 * (index + 1))
        )
    with pytest.raises(ValueError, match="no alpha"):
        ImageToMask().image_to_mask(image[..., :3], "alpha")


def test_mask_to_image_is_grey():
    mask = torch.tensor([[[0.0, 0.5]], [[1.0, 0.25]]])
    (image,) = MaskToImage().mask_to_image(mask)
    assert image.shape == (2, 1, 2, 3)
    assert image[1, 0, 1].tolist() == [0.25] * 3
    (image,) = MaskToImage().mask_to_image(mask[0])  # [H,W] masks too
    assert image.shape == (1, 1, 2, 3)


def test_invert_and_solid_mask():
    (mask,) = SolidMask().solid(0.25, 3, 2)
    assert mask.shape == (1, 2, 3) and mask.dtype == torch.float32 and mask.eq(0.25).all()
    (inverted,) = InvertMask().invert(mask)
    assert inverted.eq(0.75).all()
