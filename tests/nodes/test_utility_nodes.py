"""ComfyUI's utility nodes that need no model: switch, math expression, sizes, batching, compare."""

from __future__ import annotations

import os

import pytest
import torch

from engine import Executor, Image, NodeRegistry, node
from nodes import register_all
from nodes.batch import BatchImagesNode, BatchMasksNode
from nodes.expression import MAX_LENGTH, ComfyMathExpression, ExpressionError, evaluate
from nodes.folders import get_temp_directory
from nodes.io import ImageCompare
from nodes.sizing import ImageScaleToTotalPixels, ResizeAndPadImage, ResizeImageMaskNode


@pytest.fixture
def runs():
    return []


@pytest.fixture
def ex(runs):
    """The library plus a counting image source, so tests see which branches ran."""
    registry = NodeRegistry()
    register_all(registry)

    @node
    def source(value: float = 0.0) -> Image:
        runs.append(value)
        return torch.full((1, 2, 3, 3), value)

    registry.register(source, name="Source")
    return Executor(registry, cache="classic")


def image(h: int, w: int, value: float = 0.5, batch: int = 1, channels: int = 3):
    return torch.full((batch, h, w, channels), value)


# --- ComfySwitchNode ---


@pytest.mark.parametrize("switch, chosen", [(True, 1.0), (False, 0.0)])
def test_switch_runs_only_the_chosen_branch(ex, runs, switch, chosen):
    prompt = {
        "off": {"class_type": "Source", "inputs": {"value": 0.0}},
        "on": {"class_type": "Source", "inputs": {"value": 1.0}},
        "switch": {
            "class_type": "ComfySwitchNode",
            "inputs": {"switch": switch, "on_false": ["off", 0], "on_true": ["on", 0]},
        },
        "size": {"class_type": "GetImageSize", "inputs": {"image": ["switch", 0]}},
    }
    r = ex.execute(prompt, outputs=["size"])
    assert r.status == "success", r.error
    assert runs == [chosen]  # the other branch never ran
    assert ex.get_output("switch")[0].eq(chosen).all()


def test_switch_without_the_chosen_input_gives_none(ex):
    prompt = {"switch": {"class_type": "ComfySwitchNode", "inputs": {"switch": True}}}
    r = ex.execute(prompt, outputs=["switch"])
    assert r.status == "success" and ex.get_output("switch") == (None,)


# --- ComfyMathExpression ---


@pytest.mark.parametrize(
    "expression, names, expected",
    [
        ("a + b", {"a": 1, "b": 2}, 3),
        ("max(a, b) / 2", {"a": 3, "b": 8}, 4.0),
        ("a ** 2 if c else -1", {"a": 3, "c": True}, 9),
        ("a ** 2 if c else -1", {"a": 3, "c": False}, -1),
        ("sum(values) / len_", {"values": [1, 2, 3], "len_": 3}, 2.0),
        ("sum(a, b, 1)", {"a": 1, "b": 2}, 4),
        ("floor(a) + ceil(b) + round(2.6)", {"a": 1.7, "b": 1.2}, 6),
        ("sqrt(16) + log2(8) + abs(-1) + pow(2, 3)", {}, 16.0),
        ("1 < a <= 3 and not b", {"a": 3, "b": False}, True),
        ("a % 4 // 1 - -2", {"a": 7}, 5),
        ("int(2.9) + float(1)", {}, 3.0),
    ],
)
def test_expressions_evaluate_as_python_would(expression, names, expected):
    assert evaluate(expression, names) == expected


@pytest.mark.parametrize(
    "expression, message",
    [
        ("__import__('os').system('true')", "only these functions"),
        ("a.__class__", "attribute access"),
        ("(lambda: 1)()", "only these functions"),
        ("values[0]", "indexing"),
        ("'x' * 3", "is not a number"),
        ("a << 3", "<<"),
        ("c + 1", "unknown name 'c'"),
        ("1 / 0", "division by zero"),
        ("2 ** 5000", "exponent"),
        ("pow(10, 4001)", "exponent"),
        ("99 ** 4000 * 99 ** 4000 * 99 ** 4000", "too large"),
        ("2.0 ** 3999", "too large"),
        ("sqrt(-1)", "math domain error"),
        ("-" * 100 + "1", "nested"),
        ("1 +", "syntax error"),
        ("", "empty"),
        ("1" * (MAX_LENGTH + 1), "longer than"),
        ("min(a=1)", "positional"),
        ("sqrt", "is a function"),
    ],
)
def test_unsafe_or_broken_expressions_are_refused_with_the_reason(expression, message):
    with pytest.raises(ExpressionError, match=message):
        evaluate(expression, {"a": 2, "values": [1]})


def test_math_expression_node_reads_values_by_letter_and_gives_three_outputs(ex):
    prompt = {
        "a": {"class_type": "PrimitiveInt", "inputs": {"value": 7}},
        "b": {"class_type": "PrimitiveFloat", "inputs": {"value": 0.5}},
        "c": {"class_type": "PrimitiveBoolean", "inputs": {"value": True}},
        "math": {
            "class_type": "ComfyMathExpression",
            "inputs": {
                "expression": "(a + b) * c - sum(values)",
                "values.a": ["a", 0],
                "values.b": ["b", 0],
                "values.c": ["c", 0],
            },
        },
    }
    r = ex.execute(prompt, outputs=["math"])
    assert r.status == "success", r.error
    assert ex.get_output("math") == (-1.0, -1, True)  # 7.5 * True - (7 + 0.5 + True)


def test_math_expression_node_reports_a_bad_expression_as_the_nodes_error(ex):
    prompt = {
        "math": {"class_type": "ComfyMathExpression", "inputs": {"expression": "open('x')"}},
    }
    r = ex.execute(prompt, outputs=["math"])
    assert r.status == "error" and r.error["node_id"] == "math"
    assert "only these functions" in r.error["exception_message"]


def test_math_expression_outputs_float_int_and_bool():
    assert ComfyMathExpression().execute("a / 2", **{"values.a": 5}) == (2.5, 2, True)
    with pytest.raises(ExpressionError, match="not a number"):
        ComfyMathExpression().execute("[a]", **{"values.a": 5})
    with pytest.raises(ExpressionError, match="too large for a float"):
        ComfyMathExpression().execute("10 ** 400")


# --- sizes ---


@pytest.mark.parametrize(
    "shape, megapixels, steps, expected",
    [((1, 512, 512, 3), 1.0, 1, (1024, 1024)), ((1, 100, 200, 3), 0.25, 8, (360, 728))],
)
def test_scale_to_total_pixels(shape, megapixels, steps, expected):
    (out,) = ImageScaleToTotalPixels().execute(torch.rand(shape), "bilinear", megapixels, steps)
    assert tuple(out.shape[1:3]) == expected


def test_resize_and_pad_fits_and_centres():
    source = image(10, 20, value=0.25)
    (out,) = ResizeAndPadImage().execute(source, 40, 40, "black", "nearest-exact")
    assert out.shape == (1, 40, 40, 3)
    assert out[0, :10].eq(0).all() and out[0, 30:].eq(0).all()  # padded above and below
    assert out[0, 10:30].eq(0.25).all()
    (out,) = ResizeAndPadImage().execute(source, 40, 40, "white", "area")
    assert out[0, 0].eq(1).all()


@pytest.mark.parametrize(
    "resize_type, options, expected",
    [
        ("scale dimensions", {"width": 8, "height": 0}, (4, 8)),
        ("scale dimensions", {"width": 0, "height": 0}, (10, 20)),
        ("scale by multiplier", {"multiplier": 0.5}, (5, 10)),
        ("scale longer dimension", {"longer_size": 40}, (20, 40)),
        ("scale shorter dimension", {"shorter_size": 5}, (5, 10)),
        ("scale width", {"width": 10}, (5, 10)),
        ("scale height", {"height": 30}, (30, 60)),
        ("scale total pixels", {"megapixels": 800 / 1024 / 1024}, (20, 40)),
        ("match size", {"match": torch.zeros(1, 3, 7)}, (3, 7)),
        ("scale to multiple", {"multiple": 8}, (8, 16)),
    ],
)
@pytest.mark.parametrize("kind", ["image", "mask"])
def test_resize_image_mask_node(resize_type, options, expected, kind):
    source = image(10, 20) if kind == "image" else torch.rand(1, 10, 20)
    flat = {f"resize_type.{k}": v for k, v in options.items()}
    (out,) = ResizeImageMaskNode().execute(source, resize_type, "bilinear", **flat)
    assert tuple(out.shape[1:3]) == expected
    assert out.ndim == source.ndim  # a mask stays a mask


def test_resize_image_mask_node_through_a_prompt(ex):
    prompt = {
        "src": {"class_type": "Source", "inputs": {"value": 0.5}},
        "resize": {
            "class_type": "ResizeImageMaskNode",
            "inputs": {
                "input": ["src", 0],
                "resize_type": "scale by multiplier",
                "resize_type.multiplier": 2.0,
                "scale_method": "nearest-exact",
            },
        },
    }
    r = ex.execute(prompt, outputs=["resize"])
    assert r.status == "success", r.error
    assert ex.get_output("resize")[0].shape == (1, 4, 6, 3)
    prompt["resize"]["inputs"]["resize_type"] = "bigger please"
    r = ex.execute(prompt, outputs=["resize"])
    assert r.status == "invalid"
    assert "resize_type" in str(r.node_errors["resize"])


# --- batching ---


def test_batch_images_joins_any_number_resizing_to_the_first(ex):
    prompt = {
        "a": {
            "class_type": "EmptyImage",
            "inputs": {"width": 4, "height": 2, "batch_size": 1, "color": 0},
        },
        "b": {
            "class_type": "EmptyImage",
            "inputs": {"width": 8, "height": 4, "batch_size": 2, "color": 0},
        },
        "batch": {
            "class_type": "BatchImagesNode",
            "inputs": {
                "images.image0": ["a", 0],
                "images.image1": ["b", 0],
                "images.image2": ["a", 0],
            },
        },
    }
    r = ex.execute(prompt, outputs=["batch"])
    assert r.status == "success", r.error
    assert ex.get_output("batch")[0].shape == (4, 2, 4, 3)
    del prompt["batch"]["inputs"]["images.image1"]  # the first two are required
    r = ex.execute(prompt, outputs=["batch"])
    assert r.status == "invalid"
    assert r.node_errors["batch"]["errors"][0]["extra_info"]["input_name"] == "images.image1"


def test_batch_images_adds_alpha_and_batch_masks_resize():
    (out,) = BatchImagesNode().execute(
        **{"images.image0": image(2, 2, channels=4), "images.image1": image(2, 2)}
    )
    assert out.shape == (2, 2, 2, 4) and out[1, ..., 3].eq(1).all()
    (out,) = BatchMasksNode().execute(
        **{"masks.mask0": torch.zeros(1, 4, 4), "masks.mask1": torch.ones(2, 8, 8)}
    )
    assert out.shape == (3, 4, 4) and out[1:].eq(1).all()


# --- ImageCompare ---


def test_image_compare_previews_both_images(data_dir):
    result = ImageCompare().execute(image_a=image(2, 2), image_b=image(2, 2, batch=2))
    ui = result["ui"]
    assert len(ui["a_images"]) == 1 and len(ui["b_images"]) == 2
    for entry in ui["a_images"] + ui["b_images"]:
        assert entry["type"] == "temp"
        assert os.path.isfile(
            os.path.join(get_temp_directory(), entry["subfolder"], entry["filename"])
        )
    assert ImageCompare().execute()["ui"] == {"a_images": [], "b_images": []}
