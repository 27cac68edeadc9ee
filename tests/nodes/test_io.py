"""LoadImage, SaveImage, PreviewImage, MaskPreview and PreviewAny, run through the engine."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from engine import validate_prompt
from nodes import folders, io
from nodes.io import LoadImage, PreviewAny, SaveImage, metadata_json, preview_text

from . import hostile


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


def test_animated_image_bombs_are_refused_before_decoding(tmp_path):
    """A few KB of GIF or APNG declaring 250 frames on a 1000x1000 canvas would decode
    to 250 M pixels (4 GB as IMAGE); a PNG declaring one 20000x20000 frame is PIL's
    own bomb. Each is refused with an error naming the file and the numbers, in a
    child whose memory is capped; an animation within the bound loads there."""
    hostile.gif_bomb(tmp_path / "bomb.gif", 250, 1000, 1000)
    hostile.apng_bomb(tmp_path / "bomb.png", 250, 1000, 1000)
    hostile.png_bomb(tmp_path / "huge.png", 20_000, 20_000)
    hostile.gif_bomb(tmp_path / "fits.gif", 5, 1000, 1000)
    assert (tmp_path / "bomb.gif").stat().st_size < 4000
    calls = {
        name: f"load_image_file({str(tmp_path / name)!r})"
        for name in ["bomb.gif", "bomb.png", "huge.png"]
    }
    calls["fits.gif"] = f"tuple(load_image_file({str(tmp_path / 'fits.gif')!r})[0].shape)"
    outcomes = hostile.run_capped("from nodes.io import load_image_file", calls)
    for name, declared in [
        ("bomb.gif", "250,000,000 pixels (250 frames of 1000x1000)"),
        ("bomb.png", "251,000,000 pixels (251 frames of 1000x1000)"),  # with the default image
    ]:
        assert outcomes[name]["type"] == "ImageTooLargeError", outcomes[name]
        message = outcomes[name]["message"]
        assert message.startswith(f"image file {tmp_path / name} would decode to {declared}")
        assert "more than LoadImage loads from one file (178,956,970" in message
    huge = outcomes["huge.png"]
    assert huge["type"] == "ImageTooLargeError", huge
    assert huge["message"].startswith(f"image file {tmp_path / 'huge.png'} is too large to load")
    assert "400000000 pixels" in huge["message"] and "decompression bomb" in huge["message"]
    assert outcomes["fits.gif"] == {"type": None, "value": "(5, 1000, 1000, 3)"}


@pytest.fixture
def decoded(monkeypatch):
    """The sizes of the frames PIL decoded (``ImageFile.load`` with pixel data to read)."""
    sizes = []
    load = ImageFile.ImageFile.load

    def recording(image):
        if image.tile:
            sizes.append(image.size)
        return load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", recording)
    return sizes


def test_load_image_bound_counts_every_frame_at_the_canvas_size(data_dir, ex, monkeypatch, decoded):
    frames = [Image.new("RGB", (4, 2), color) for color in [(255, 0, 0), (0, 0, 255), (0, 9, 0)]]
    (data_dir / "input").mkdir(parents=True)
    frames[0].save(data_dir / "input" / "anim.gif", save_all=True, append_images=frames[1:])
    prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": "anim.gif"}}}
    monkeypatch.setattr(io, "MAX_LOAD_PIXELS", 3 * 4 * 2 - 1)
    r = ex.execute(prompt, outputs=["1"])
    assert r.status == "error" and r.error["exception_type"].endswith("ImageTooLargeError")
    assert "anim.gif would decode to 24 pixels (3 frames of 4x2)" in r.error["exception_message"]
    assert decoded == []  # refused from the header

    monkeypatch.setattr(io, "MAX_LOAD_PIXELS", 3 * 4 * 2)
    assert ex.execute(prompt, outputs=["1"]).status == "success"
    assert ex.get_output("1")[0].shape == (3, 2, 4, 3)
    assert decoded == [(4, 2)] * 3


def test_load_image_bound_counts_frames_of_different_sizes(data_dir, monkeypatch, decoded):
    """A TIFF's pages may differ in size: the header gives only the first page's."""
    pages = [Image.new("RGB", (2, 2)), Image.new("RGB", (10, 10))]
    input_png(data_dir, "unused.png", np.zeros((1, 1, 3)))
    pages[0].save(data_dir / "input" / "pages.tif", save_all=True, append_images=pages[1:])
    monkeypatch.setattr(io, "MAX_LOAD_PIXELS", 100)
    with pytest.raises(
        io.ImageTooLargeError, match="pages.tif would decode to 104 pixels \\(its frames counted"
    ):
        LoadImage().load_image("pages.tif")
    assert decoded == [(2, 2)]  # the second page was not decoded


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
