"""Builder errors at the user's line: wrong constants, foreign handles, typos, short tracebacks."""

import dataclasses
import os
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from engine import Executor, Image, Latent, Mask, NodeRegistry, node
from workbench import Workbench
from workbench.graph import Graph

ROOT = Path(__file__).resolve().parents[2]


@dataclasses.dataclass
class Settings:
    gain: float


@node
def number(value: int = 3) -> int:
    return value


@node
def split(x: int) -> tuple[int, int]:
    return x // 2, x - x // 2


@node
def brighten(image: Image, mask: Mask | None = None) -> Image:
    return image.clamp(0, 1)


@node
def shade(mask: Mask) -> Mask:
    return mask


@node
def decode(latent: Latent) -> int:
    return len(latent)


@node
def tune(settings: Settings) -> float:
    """``settings`` is a link input of a pack's own kind of type (SETTINGS)."""
    return 1.0


@node
def anything(value: Any) -> int:
    return 1


class ImageOrMask:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"pixels": ("IMAGE,MASK",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, pixels):
        return (pixels.ndim,)


@pytest.fixture
def registry():
    reg = NodeRegistry()
    for fn in (number, split, brighten, shade, decode, tune, anything):
        reg.register(fn)
    reg.register(ImageOrMask, name="ImageOrMask", display_name="Image or Mask")
    return reg


# --- constants for link inputs (the rule in workbench/graph.py's docstring) --------------

REFUSED = [
    ("brighten", "image", "cat.png", "got str 'cat.png'; an IMAGE is a float tensor"),
    ("brighten", "image", 3, "got int 3; an IMAGE is a float tensor"),
    ("brighten", "image", [1.0, 2.0], "got list [1.0, 2.0]; an IMAGE is"),
    (
        "brighten",
        "image",
        np.zeros((1, 4, 4, 3), np.float32),
        "numpy.ndarray of shape [1, 4, 4, 3]",
    ),
    ("brighten", "image", PILImage.new("RGB", (2, 2)), "got Image <PIL.Image.Image"),
    ("brighten", "image", torch.zeros(4, 4, 3), "float32 tensor of shape [4, 4, 3]"),
    ("brighten", "image", torch.zeros(1, 4, 4, 3, dtype=torch.uint8), "uint8 tensor"),
    ("brighten", "image", None, "got NoneType None; an IMAGE is"),  # required
    ("shade", "mask", torch.zeros(1, 4, 4, 3), "a MASK is a float tensor"),
    ("decode", "latent", torch.zeros(1, 4, 8, 8), 'a LATENT is a dict with "samples"'),
    ("tune", "settings", "fast.json", "got str 'fast.json'; a SETTINGS is an object a node makes"),
    ("tune", "settings", 1.5, "a SETTINGS is an object a node makes, not a float"),
    ("tune", "settings", None, "a SETTINGS is an object a node makes, not None"),
    ("ImageOrMask", "pixels", "cat.png", "an IMAGE is a float tensor"),
]


@pytest.mark.parametrize(("class_type", "name", "value", "message"), REFUSED)
def test_a_constant_where_a_link_is_required_must_be_a_value_of_its_type(
    registry, class_type, name, value, message
):
    g = Graph(registry)
    with pytest.raises(TypeError) as caught:
        g.add(class_type, **{name: value})
    text = str(caught.value)
    assert text.startswith(f"{class_type}(): input {name!r} expects ")
    assert message in text
    assert "link a node's output to it" in text
    assert len(g) == 0  # the failed call added nothing


ACCEPTED = [
    ("brighten", "image", torch.rand(1, 4, 4, 3)),
    ("brighten", "image", torch.rand(2, 4, 4, 4, dtype=torch.float64)),
    ("shade", "mask", torch.rand(4, 4)),
    ("shade", "mask", torch.rand(1, 4, 4)),
    ("decode", "latent", {"samples": torch.zeros(1, 4, 8, 8)}),
    ("tune", "settings", Settings(gain=2.0)),  # kernel values of any other type
    ("tune", "settings", [1, 2, 3]),
    ("tune", "settings", np.arange(3)),
    ("anything", "value", "a plain str"),  # "*" takes anything
    ("anything", "value", None),
    ("ImageOrMask", "pixels", torch.rand(4, 4)),  # a union takes either type's value
]


@pytest.mark.parametrize(("class_type", "name", "value"), ACCEPTED)
def test_kernel_values_of_the_right_kind_are_constants_that_run(registry, class_type, name, value):
    g = Graph(registry)
    g.add(class_type, **{name: value})
    r = Executor(registry).execute(g.to_prompt(), outputs=list(g))
    assert r.status == "success", r.error
    assert r.executed == set(g)


def test_an_optional_link_input_takes_none_and_editor_ops_are_checked_too(registry):
    g = Graph(registry)
    g.brighten(image=torch.rand(1, 2, 2, 3), mask=None)
    with pytest.raises(TypeError, match="input 'image' expects IMAGE, got str"):
        g.apply({"op": "set_inputs", "id": "brighten_1", "inputs": {"image": "cat.png"}})
    with pytest.raises(TypeError, match="input 'image' expects IMAGE, got str"):
        g.node("brighten_1").set(image="cat.png")
    assert isinstance(g.to_prompt()["brighten_1"]["inputs"]["image"], torch.Tensor)


def test_the_file_name_mistake_with_the_libraries_nodes(tmp_path):
    wb = Workbench(data_dir=tmp_path, persist=False)
    try:
        g = wb.graph()
        with pytest.raises(TypeError, match=r"ImageBlur\(\): input 'image' expects IMAGE, got str"):
            g.ImageBlur(image="cat.png")
        blurred = g.ImageBlur(image=torch.rand(1, 8, 8, 3), blur_radius=1)
        assert wb.run(g, outputs=[blurred], progress=False).status == "success"
    finally:
        wb.close()


# --- handles belong to their graph --------------------------------------------------------


def test_a_handle_from_another_graph_is_refused_everywhere(registry, tmp_path):
    g, other = Graph(registry), Graph(registry)
    mine = g.number(value=1)
    theirs = other.number(value=2)  # the same id, number_1, in another graph
    pair = other.split(x=theirs)
    assert theirs.node_id == mine.node_id

    with pytest.raises(ValueError, match="number_1 of another graph"):
        g.split(x=theirs)
    with pytest.raises(ValueError, match="number_1 of another graph"):
        g.split(x=other.node(theirs))  # a Node handle with one output
    for call in (
        lambda: g.node(theirs),
        lambda: g.node(pair),
        lambda: g.remove(theirs),
        lambda: g.remove_input(theirs, "value"),
        lambda: g.set_ui(theirs, pos=[0, 0]),
        lambda: g.set_mode(theirs, "mute"),
        lambda: g.control_of(theirs),
    ):
        with pytest.raises(ValueError, match="belongs to another graph; pass a handle of this"):
            call()
    assert theirs not in g and mine in g and "number_1" in g
    assert g.to_prompt() == {"number_1": {"class_type": "number", "inputs": {"value": 1}}}
    assert g.node("number_1").ui == {}

    wb = Workbench(data_dir=tmp_path, persist=False)
    try:
        wb.registry.register(number)
        g = wb.graph()
        mine = g.number(value=1)
        with pytest.raises(ValueError, match="belongs to another graph"):
            wb.run(g, outputs=[theirs], progress=False)
        with pytest.raises(ValueError, match="belongs to another graph"):
            wb.run(g, seed_control={theirs: "randomize"}, progress=False)
        r = wb.run(g, outputs=["number_1"], progress=False)  # an id names this graph's node
        assert r[mine] == 1 and r.has(mine) and not r.has(theirs)
        with pytest.raises(ValueError, match="belongs to another graph"):
            r[theirs]
    finally:
        wb.close()


# --- suggestions ----------------------------------------------------------------------------


def test_misspelt_node_types_and_inputs_get_the_closest_names(registry):
    g = Graph(registry)
    with pytest.raises(AttributeError, match=r"^no node type 'nubmer'; did you mean 'number'\?$"):
        _ = g.nubmer
    with pytest.raises(
        AttributeError, match=r"no node type 'ImageOrMsk'; did you mean 'ImageOrMask'"
    ):
        _ = g.ImageOrMsk
    with pytest.raises(
        AttributeError, match=r"no node type 'ImageorMask'; did you mean 'ImageOrMask'"
    ):
        g.add("ImageorMask")
    with pytest.raises(AttributeError, match="did you mean 'ImageOrMask'"):
        _ = g.image_or_mask  # close to the display name, "Image or Mask"
    with pytest.raises(AttributeError, match=r"^no node type 'zebra'$"):
        _ = g.zebra  # nothing close: no guess
    with pytest.raises(
        TypeError,
        match=r"^number\(\) got an unexpected input 'vaule'; did you mean 'value'\? "
        r"\(valid inputs: value\)$",
    ):
        g.number(vaule=2)
    with pytest.raises(TypeError, match=r"unexpected input 'colour' \(valid inputs: value\)$"):
        g.number(colour=2)


def test_the_libraries_node_types_get_suggestions(tmp_path):
    wb = Workbench(data_dir=tmp_path, persist=False)
    try:
        g = wb.graph()
        with pytest.raises(AttributeError, match=r"'ImageBlurr'; did you mean 'ImageBlur'\?$"):
            _ = g.ImageBlurr
        with pytest.raises(TypeError, match=r"input 'radius'; did you mean 'blur_radius'\?"):
            g.ImageBlur(image=g.EmptyImage(), radius=3)
    finally:
        wb.close()


# --- tracebacks start at the user's line ------------------------------------------------------


def _frames(exc: BaseException) -> list[traceback.FrameSummary]:
    return traceback.extract_tb(exc.__traceback__)


def test_a_builder_error_keeps_only_the_users_frame_and_one_entry(registry):
    g = Graph(registry)
    n = g.number()
    calls = [
        lambda: g.number(vaule=2),
        lambda: g.split(x="three"),
        lambda: g.node(n).set(vaule=2),
        lambda: g.apply({"op": "set_inputs", "id": "number_1", "inputs": {"value": "x"}}),
        lambda: g.remove("nope"),
        lambda: g.add("nubmer"),
    ]
    for call in calls:
        with pytest.raises(Exception) as caught:
            call()
        frames = _frames(caught.value)
        # This test's lambda (the user's line), then the builder entry it called, nothing deeper.
        assert frames[1].name == "<lambda>", [f.name for f in frames]
        assert [f.name for f in frames[2:]] == ["entry"]
        assert frames[2].filename.endswith(os.path.join("workbench", "graph.py"))


def test_an_error_raised_deeper_keeps_its_frames(registry):
    class Broken:
        @classmethod
        def INPUT_TYPES(cls):
            raise RuntimeError("a pack's INPUT_TYPES failed")

        RETURN_TYPES = ("INT",)
        FUNCTION = "run"

        def run(self):
            return (1,)

    registry.register(Broken, name="Broken")
    g = Graph(registry)
    with pytest.raises(RuntimeError) as caught:
        g.Broken()
    assert "INPUT_TYPES" in [f.name for f in _frames(caught.value)]


IPYTHON_SCRIPT = r"""
import contextlib, io, sys, tempfile
from IPython.core.interactiveshell import InteractiveShell

shell = InteractiveShell.instance(colors="nocolor")
shell.run_cell(
    "from workbench import Workbench\n"
    f"wb = Workbench(data_dir={tempfile.mkdtemp()!r}, persist=False)\n"
    "g = wb.graph()\n"
    "blur = g.ImageBlur(image=g.EmptyImage())"
)
for cell in sys.argv[1:]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        shell.run_cell(cell)
    print(out.getvalue() + "\n=====")
shell.run_cell("wb.close()")
"""


def test_in_ipython_the_traceback_starts_at_the_users_cell():
    cells = [
        "g.ImageBlur(image=g.EmptyImage(), radius=3)",
        "g.ImageBlur(image='cat.png')",
        "g.node(blur).set(sigma='wide')",
        "g.ImageBlurr",
        "g.node(wb.graph().EmptyImage())",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", IPYTHON_SCRIPT, *cells],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    shown = done.stdout.split("=====")[: len(cells)]
    for cell, text in zip(cells, shown, strict=True):
        lines = [line for line in text.splitlines() if set(line.strip()) - {"-"}]
        assert "Traceback (most recent call last)" in lines[0], text
        assert lines[1].startswith("Cell In["), text  # the first frame: the user's cell
        assert lines[2] == f"----> 1 {cell}", text
        # Then at most the one frame that raised (IPython always shows that one), not
        # the builder's internals (before: four frames, down to _set_inputs).
        assert len([line for line in lines if line.startswith("File ")]) <= 1, text


def test_a_users_function_building_the_graph_keeps_its_own_frame(tmp_path):
    wb = Workbench(data_dir=tmp_path, persist=False)
    try:

        def build():
            g = wb.graph()
            g.ImageBlur(image="cat.png")  # the line at fault, inside the user's function
            return g

        with pytest.raises(TypeError, match="expects IMAGE") as caught:
            wb.run(build, progress=False)
        names = [f.name for f in _frames(caught.value)]
        assert names[-2:] == ["build", "entry"], names
    finally:
        wb.close()


def test_a_missing_input_file_names_the_input_folder(tmp_path):
    from workbench import Workbench

    wb = Workbench(data_dir=tmp_path, persist=False)
    try:
        g = wb.graph()
        with pytest.raises(ValueError, match="choices are the files in the input folder") as error:
            g.LoadImage(image="cat.png")
        assert str(wb.input_dir) in str(error.value)
    finally:
        wb.close()
