"""Every node of the library describes itself for the editor's palette (object_info)."""

from __future__ import annotations

import json

import pytest

import nodes
from nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS


@pytest.mark.parametrize("name", sorted(NODE_CLASS_MAPPINGS))
def test_object_info_has_display_name_category_description_and_tooltips(name, registry):
    info = registry.object_info(name)[name]
    json.dumps(info)  # JSON-ready for the browser
    assert info["display_name"] == NODE_DISPLAY_NAME_MAPPINGS[name]
    assert info["category"], "no category"
    assert len(info["description"]) > 10, "no description"
    inputs = [
        (input_name, spec)
        for category in ("required", "optional")
        for input_name, spec in info["input"].get(category, {}).items()
    ]
    for input_name, spec in inputs:
        assert len(spec) == 2 and spec[1].get("tooltip"), f"{name}.{input_name} has no tooltip"


def test_every_node_is_registered(registry):
    assert set(NODE_CLASS_MAPPINGS) <= set(registry)
    assert set(NODE_DISPLAY_NAME_MAPPINGS) == set(NODE_CLASS_MAPPINGS)


def test_the_image_helpers_nodes_are_all_there():
    wanted = [
        "LoadImage",
        "SaveImage",
        "PreviewImage",
        "PreviewAny",
        "ImageScale",
        "ImageScaleBy",
        "ImageInvert",
        "ImageBlur",
        "ImageSharpen",
        "ImageBlend",
        "ImageCrop",
        "ImagePadForOutpaint",
        "EmptyImage",
        "ImageBatch",
        "ImageFromBatch",
        "RepeatImageBatch",
        "GetImageSize",
        "ImageStitch",
        "ImageCompositeMasked",
        "ImageToMask",
        "MaskToImage",
        "InvertMask",
        "SolidMask",
        "MaskPreview",
        "Canny",
        "RebatchImages",
        "PrimitiveInt",
        "PrimitiveFloat",
        "PrimitiveString",
        "PrimitiveStringMultiline",
        "PrimitiveBoolean",
        "PrimitiveSeed",
        "ComfySwitchNode",
        "ComfyMathExpression",
        "ImageScaleToTotalPixels",
        "ResizeAndPadImage",
        "ResizeImageMaskNode",
        "BatchImagesNode",
        "BatchMasksNode",
        "ImageCompare",
    ]
    assert set(wanted) <= set(NODE_CLASS_MAPPINGS)


def test_register_all_fills_a_registry():
    from engine import NodeRegistry

    reg = NodeRegistry()
    nodes.register_all(reg)
    assert len(reg) == len(NODE_CLASS_MAPPINGS)
