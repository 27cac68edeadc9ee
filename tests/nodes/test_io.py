"""LoadImage, SaveImage, PreviewImage, MaskPreview and PreviewAny, run through the engine."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import pytest
import torch
from PIL import Image

from engine import validate_prompt
from nodes import folders
from nodes.io import LoadImage, PreviewAny, SaveImage, metadata_json, preview_text


def write_png(path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8)).save(path)


def input_png(data_dir, name: str, array: np.ndarray):
    path = data_dir / "input" / name
    write_png(path, array)
    return path


def errors_of(v, node_id: str) -> list[dict]:
    return v.node_errors[node_id]["errors"]


# --- LoadImage ---


def test_load_image_outputs_rgb_and_mask_is_one_minus_alpha(data_dir):
    rgba = np.array([[[255, 0, 0, 255], [0, 255, 0, 0]], [[0, 0, 255, 51], [10, 20, 30, 255]]])
    input_png(data_dir, "a.png", rgba)
    image, mask = LoadImage().load_image("a.png")
    assert image.shape == (1, 2, 2, 3) and image.dtype == torch.float32
    assert mask.shape == (1, 2, 2) and mask.dtype == torch.float32
    assert torch.allclose(image[0], torch.tensor(rgba[..., :3] / 255.0, dtype=torch.float32))
    assert torch.allclose(mask[0], torch.tensor([[0.0, 1.0], [0.8, 0.0]]))


def test_load_image_without_alpha_gives_a_zero_mask_of_its_size(data_dir):
    input_png(data_dir, "rgb.png", np.full((3, 5, 3), 128))
    image, mask = LoadImage().load_image("rgb.png")
    assert image.shape == (1, 3, 5, 3)
    assert torch.allclose(image, torch.full_like(image, 128 / 255))
    assert mask.shape == (1, 3, 5) and mask.abs().sum() == 0


def test_load_image_palette_transparency_and_frames(data_dir):
    palette = Image.new("P", (2, 1))
    palette.putpalette([0, 0, 0, 255, 255, 255])
    palette.putpixel((1, 0), 1)
    palette.info["transparency"] = 0
    (data_dir / "input").mkdir(parents=True)
    palette.save(data_dir / "input" / "p.png", transparency=0)
    image, mask = LoadImage().load_image("p.png")
    assert mask.tolist() == [[[1.0, 0.0]]]
    assert image[0, 0, 1].tolist() == [1.0, 1.0, 1.0]

    frames = [Image.new("RGB", (4, 2), color) for color in [(255, 0, 0), (0, 0, 255)]]
    frames[0].save(data_dir / "input" / "anim.gif", save_all=True, append_images=frames[1:])
    image, mask = LoadImage().load_image("anim.gif")
    assert image.shape == (2, 2, 4, 3) and mask.shape == (2, 2, 4)
    assert image[0, 0, 0].tolist() == [1.0, 0.0, 0.0]
    assert image[1, 0, 0].tolist() == [0.0, 0.0, 1.0]


def test_load_image_lists_the_input_directory_as_its_combo(data_dir):
    for name in ["b.png", "a.png"]:
        input_png(data_dir, name, np.zeros((1, 1, 3)))
    (data_dir / "input" / "readme.txt").write_text("not an image")
    choices, options = LoadImage.INPUT_TYPES()["required"]["image"]
    assert choices == ["a.png", "b.png"]
    assert options["image_upload"] is True


def test_load_image_reruns_when_the_file_content_changes(data_dir, ex):
    path = input_png(data_dir, "a.png", np.zeros((2, 2, 3)))
    assert LoadImage.IS_CHANGED("a.png") == hashlib.sha256(path.read_bytes()).hexdigest()
    prompt = {
        "load": {"class_type": "LoadImage", "inputs": {"image": "a.png"}},
        "show": {"class_type": "PreviewAny", "inputs": {"source": ["load", 0]}},
    }
    assert ex.execute(prompt).executed == {"load", "show"}
    assert ex.execute(prompt).executed == set()
    write_png(path, np.full((2, 2, 3), 255))
    r = ex.execute(prompt)
    assert r.executed == {"load", "show"}
    assert ex.get_output("load")[0].min() == 1.0


def test_load_image_reads_from_the_output_folder_when_annotated(data_dir, ex):
    write_png(data_dir / "output" / "made.png", np.full((1, 2, 3), 255))
    prompt = {
        "load": {"class_type": "LoadImage", "inputs": {"image": "made.png [output]"}},
        "show": {"class_type": "PreviewAny", "inputs": {"source": ["load", 0]}},
    }
    assert ex.execute(prompt).status == "success"
    assert ex.get_output("load")[0].shape == (1, 1, 2, 3)


def load_prompt(name: str) -> dict:
    return {
        "load": {"class_type": "LoadImage", "inputs": {"image": name}},
        "show": {"class_type": "PreviewImage", "inputs": {"images": ["load", 0]}},
    }


def test_load_image_path_escapes_are_validation_errors(data_dir, tmp_path, registry, ex):
    secret = tmp_path / "secret.png"
    write_png(secret, np.zeros((1, 1, 3)))  # exists: only its place is wrong
    input_png(data_dir, "ok.png", np.zeros((1, 1, 3)))
    (data_dir / "input" / "link.png").symlink_to(secret)
    cases = {
        "../secret.png": "uses '..' to reach outside the input directory",
        str(secret): "is an absolute path",
        "link.png": "resolves through a symbolic link to",
        "missing.png": "is not a file in the input directory",
    }
    for name, message in cases.items():
        v = validate_prompt(load_prompt(name), registry)
        assert not v.ok
        (problem,) = errors_of(v, "load")
        assert problem["type"] == "custom_validation_failed"
        assert message in problem["details"], problem
        assert problem["details"].startswith("image - Invalid image file")
        assert ex.execute(load_prompt(name)).status == "invalid"
    assert validate_prompt(load_prompt("ok.png"), registry).ok


# --- SaveImage ---

WORKFLOW = {"last_node_id": 2, "nodes": [{"id": 1, "type": "EmptyImage"}], "version": 0.4}


def save_prompt(prefix="ComfyUI", color=0xFF8000, batch=1):
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 3, "height": 2, "batch_size": batch, "color": color},
        },
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}},
    }


def test_saved_png_holds_the_prompt_and_workflow_that_ran(data_dir, ex):
    prompt = save_prompt("run/pic")
    r = ex.execute(prompt, extra_data={"extra_pnginfo": {"workflow": WORKFLOW}})
    assert r.status == "success"
    images = [{"filename": "pic_00001_.png", "subfolder": "run", "type": "output"}]
    assert r.outputs["2"] == {"images": images}

    with Image.open(data_dir / "output" / "run" / "pic_00001_.png") as png:
        assert json.loads(png.text["prompt"]) == prompt
        assert json.loads(png.text["workflow"]) == WORKFLOW
        assert list(png.text) == ["prompt", "workflow"]
        pixels = np.asarray(png)
    assert pixels.shape == (2, 3, 3)
    assert pixels[0, 0].tolist() == [255, 128, 0]


def test_save_counter_continues_across_runs_and_batches(data_dir, ex):
    ex.execute(save_prompt("x", batch=2))
    r = ex.execute(save_prompt("x", color=0x000000))
    assert [i["filename"] for i in r.outputs["2"]["images"]] == ["x_00003_.png"]
    assert sorted(p.name for p in (data_dir / "output").iterdir()) == [
        "x_00001_.png",
        "x_00002_.png",
        "x_00003_.png",
    ]


def test_save_without_metadata_writes_no_chunks(data_dir):
    out = SaveImage().save_images(torch.full((1, 1, 1, 3), 0.5), "plain")
    assert out["ui"]["images"][0]["filename"] == "plain_00001_.png"
    with Image.open(data_dir / "output" / "plain_00001_.png") as png:
        assert png.text == {}
        assert np.asarray(png)[0, 0].tolist() == [127, 127, 127]  # 8-bit by truncation


def test_save_prefix_escapes_are_validation_errors(data_dir, tmp_path, registry):
    (data_dir / "output").mkdir(parents=True)
    (data_dir / "output" / "link").symlink_to(tmp_path)
    cases = {
        "../x": "uses '..' to reach outside the output directory",
        str(tmp_path / "x"): "is an absolute path",
        "link/x": "resolves through a symbolic link to",
    }
    for prefix, message in cases.items():
        v = validate_prompt(save_prompt(prefix), registry)
        (problem,) = errors_of(v, "2")
        assert problem["type"] == "custom_validation_failed"
        assert problem["details"].startswith(f"filename_prefix - {prefix!r}")
        assert message in problem["details"], problem
    assert not any(tmp_path.glob("*.png"))


def test_a_linked_prefix_escaping_fails_when_it_runs(data_dir, tmp_path, ex):
    prompt = save_prompt()
    prompt["p"] = {"class_type": "PrimitiveString", "inputs": {"value": "../../escaped"}}
    prompt["2"]["inputs"]["filename_prefix"] = ["p", 0]
    r = ex.execute(prompt)
    assert r.status == "error"
    assert r.error["exception_type"].endswith("PathEscapeError")
    assert "uses '..'" in r.error["exception_message"]
    assert not list(tmp_path.rglob("escaped*"))


@dataclasses.dataclass
class Settings:
    strength: float = 0.5


def test_saved_png_metadata_stands_in_for_values_json_cannot_hold(data_dir, ex):
    """Kernel values as constants (a tensor, an array, a PIL image, a dataclass) still let
    SaveImage and PreviewImage write the prompt: each such value gets a JSON stand-in;
    NaN and infinity are written as ComfyUI writes them (``json.dumps``' NaN, Infinity)."""
    prompt = {
        "1": {"class_type": "ImageInvert", "inputs": {"image": torch.zeros(1, 8, 8, 3)}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "k"}},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
        "4": {"class_type": "PreviewAny", "inputs": {"source": np.eye(2)}},
        "5": {"class_type": "PreviewAny", "inputs": {"source": Image.new("RGB", (4, 3))}},
        "6": {"class_type": "PreviewAny", "inputs": {"source": Settings()}},
    }
    workflow = {"nodes": [{"id": 1, "widgets_values": [float("nan"), float("inf")]}]}
    r = ex.execute(prompt, extra_data={"extra_pnginfo": {"workflow": workflow}})
    assert r.status == "success", r.error
    preview = r.outputs["3"]["images"][0]["filename"]
    for path in (data_dir / "output" / "k_00001_.png", data_dir / "temp" / preview):
        with Image.open(path) as png:
            written = json.loads(png.text["prompt"])
            assert '"widgets_values": [NaN, Infinity]' in png.text["workflow"]
        stand_in = {
            key: written[key]["inputs"].pop(value)
            for key, value in [("1", "image"), ("4", "source"), ("5", "source"), ("6", "source")]
        }
        assert stand_in["1"] == {
            "__workbench_value__": "Tensor(shape=[1, 8, 8, 3], dtype=torch.float32)"
        }
        assert stand_in["4"] == {"__workbench_value__": "ndarray(shape=[2, 2], dtype=float64)"}
        assert stand_in["5"]["__workbench_value__"].startswith("<PIL.Image.Image image mode=RGB")
        assert stand_in["6"] == {"__workbench_value__": "Settings(strength=0.5)"}
        assert written["2"] == prompt["2"]  # what JSON holds is written as it is
        assert written["1"] == {"class_type": "ImageInvert", "inputs": {}}


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def cycle() -> dict:
    value: dict = {"a": 1}
    value["self"] = value
    return value


@pytest.mark.parametrize(
    "value, expected",
    [
        ({"x": float("nan"), "y": -float("inf")}, '{"x": NaN, "y": -Infinity}'),
        (
            {"n": np.int64(3), "f": np.float32(0.5), "t": torch.tensor(2)},
            '{"n": 3, "f": 0.5, "t": 2}',
        ),
        ({"s": {2, 1}}, '{"s": [1, 2]}'),
        ({(1, 2): "tuple key"}, '{"[1, 2]": "tuple key"}'),  # falls back to jsonable
        (cycle(), None),
        (nested(100_000), None),
    ],
)
def test_png_metadata_json_never_fails(value, expected):
    text = metadata_json(value)
    json.loads(text)
    if expected is not None:
        assert text == expected


# --- previews ---


def test_preview_image_writes_to_temp(data_dir, ex):
    prompt = save_prompt()
    prompt["2"] = {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}
    r = ex.execute(prompt)
    (entry,) = r.outputs["2"]["images"]
    assert entry["type"] == "temp" and entry["subfolder"] == ""
    assert entry["filename"].startswith("ComfyUI_temp_") and entry["filename"].endswith(
        "_00001_.png"
    )
    assert len(entry["filename"]) == len("ComfyUI_temp_abcde_00001_.png")
    assert (data_dir / "temp" / entry["filename"]).is_file()
    assert not (data_dir / "output").exists()


def test_mask_preview_shows_the_mask_as_grey(data_dir, ex):
    prompt = {
        "m": {"class_type": "SolidMask", "inputs": {"value": 0.25, "width": 2, "height": 3}},
        "p": {"class_type": "MaskPreview", "inputs": {"mask": ["m", 0]}},
    }
    (entry,) = ex.execute(prompt).outputs["p"]["images"]
    assert entry["type"] == "temp"
    with Image.open(data_dir / "temp" / entry["filename"]) as png:
        pixels = np.asarray(png)
    assert pixels.shape == (3, 2, 3) and (pixels == 63).all()


@pytest.mark.parametrize(
    "value, text",
    [
        ("hello", "hello"),
        (3, "3"),
        (2.5, "2.5"),
        (True, "True"),
        (None, "None"),
        ({"a": [1, 2]}, '{"a": [1, 2]}'),
        (torch.tensor([1.0]), "tensor([1.])"),
    ],
)
def test_preview_any_text(value, text):
    assert preview_text(value) == text
    assert PreviewAny().main(value)["ui"] == {"text": [text]}


def test_preview_any_through_the_engine(ex):
    prompt = {
        "s": {"class_type": "GetImageSize", "inputs": {"image": ["e", 0]}},
        "e": {
            "class_type": "EmptyImage",
            "inputs": {"width": 7, "height": 5, "batch_size": 2, "color": 0},
        },
        "show": {"class_type": "PreviewAny", "inputs": {"source": ["s", 1]}},
    }
    assert ex.execute(prompt).outputs["show"] == {"text": ["5"]}


def test_folders_follow_configure_for_cached_node_instances(tmp_path, ex):
    ex.execute(save_prompt("a"))
    folders.configure(output_dir=tmp_path / "elsewhere")
    ex.execute(save_prompt("a", color=1))
    assert (tmp_path / "elsewhere" / "a_00001_.png").is_file()
