"""The session in-process: runs, results, kernel values as inputs, explain."""

import dataclasses
import os

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from engine import Image
from workbench import Workbench


@pytest.fixture
def wb(tmp_path):
    session = Workbench(data_dir=tmp_path, persist=False)
    yield session
    session.close()


@pytest.fixture
def calls():
    return []


@dataclasses.dataclass
class Settings:
    gain: float
    name: str


def test_kernel_values_are_cached_by_content(wb, calls):
    @wb.node
    def brighten(image: Image, amount: float = 0.1) -> Image:
        calls.append("brighten")
        return (image + amount).clamp(0, 1)

    @wb.node
    def describe(value: object) -> str:
        calls.append("describe")
        return type(value).__name__

    def build(picture, other):
        g = wb.graph()
        bright = g.brighten(image=picture)
        kind = g.describe(value=other)
        return g, bright, kind

    picture = torch.zeros(1, 4, 4, 3)
    g, bright, kind = build(picture, np.arange(6))
    r = wb.run(g, outputs=[bright, kind], progress=False)
    assert r.executed == {"brighten_1", "describe_1"}
    assert torch.allclose(r[bright], torch.full((1, 4, 4, 3), 0.1))

    # Re-assigning equal values (new objects) keeps the cache.
    g, bright, kind = build(torch.zeros(1, 4, 4, 3), np.arange(6))
    r = wb.run(g, outputs=[bright, kind], progress=False)
    assert r.executed == set() and r.cached == {"brighten_1", "describe_1"}

    # A changed tensor reruns only what depends on it.
    changed = torch.zeros(1, 4, 4, 3)
    changed[0, 0, 0, 0] = 0.5
    g, bright, kind = build(changed, np.arange(6))
    r = wb.run(g, outputs=[bright, kind], progress=False)
    assert r.executed == {"brighten_1"}

    for value, name in [
        (PILImage.new("RGB", (2, 2), "red"), "Image"),
        (Settings(1.5, "a"), "Settings"),
        ([1, 2, 3], "list"),
    ]:
        g, bright, kind = build(changed, value)
        assert wb.run(g, outputs=[kind], progress=False)[kind] == name
        g, bright, kind = build(changed, value)
        again = wb.run(g, outputs=[kind], progress=False)
        assert again.executed == set(), f"an equal {name} must hit the cache"


def test_class_nodes_batches_and_jobs(wb):
    @wb.node
    class Counter:
        """A ComfyUI-style class node."""

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"start": ("INT", {"default": 0})}}

        RETURN_TYPES = ("INT",)
        FUNCTION = "count"
        NOT_IDEMPOTENT = True

        def __init__(self):
            self.n = 0

        def count(self, start):
            self.n += 1
            return (start + self.n,)

    g = wb.graph()
    c = g.Counter(start=10)
    results = wb.run(g, outputs=[c], number=3, progress=False)
    assert [r.status for r in results] == ["success"] * 3
    assert results[0][c] == 11  # NOT_IDEMPOTENT only keys by node id: later runs are cached
    job = wb.run(g, outputs=[c], wait=False)
    assert job.result(timeout=30).status == "success"
    assert wb.value(c) == 11


def test_errors_show_the_node_message_and_traceback(wb):
    @wb.node
    def explode(x: int = 1) -> int:
        raise ValueError(f"cannot use {x}")

    g = wb.graph()
    e = g.explode(x=7)
    r = wb.run(g, outputs=[e], progress=False)
    assert r.status == "error"
    assert r.error["node_id"] == "explode_1"
    page = r._repr_html_()
    assert "explode_1" in page and "cannot use 7" in page and "traceback" in page
    assert "ValueError" in page
    assert "error in explode_1: cannot use 7" in repr(r)
    # The session stays usable.
    g.node(e).set(x=2)
    assert (
        wb.run(g, outputs=[e], progress=False).error["exception_message"].startswith("cannot use 2")
    )


def test_results_render_a_table_and_inline_images(wb):
    g = wb.graph()
    image = g.EmptyImage(width=8, height=8, batch_size=1, color=0xFF0000)
    inverted = g.ImageInvert(image=image)
    g.PreviewImage(images=inverted)
    r = wb.run(g, progress=False)
    page = r._repr_html_()
    assert "<table>" in page
    for node_id in ("EmptyImage_1", "ImageInvert_1", "PreviewImage_1"):
        assert node_id in page
    assert page.count("data:image/png;base64,") >= 1
    assert float(r[inverted][0, 0, 0, 0]) == 0.0  # red inverted: no red left

    again = wb.run(g, progress=False)
    assert "cached" in again._repr_html_()
    assert "served from the cache" in wb.explain(inverted)


def test_explain_names_the_constant_that_changed(wb):
    @wb.node
    def offset(x: int = 0, by: int = 1) -> int:
        return x + by

    g = wb.graph()
    a = g.offset(x=1)
    b = g.offset(x=a, by=5)
    wb.run(g, outputs=[b], progress=False)
    g.node(a).set(by=2)
    wb.run(g, outputs=[b], progress=False)
    assert wb.explain(a) == "offset_1 ran because constant 'by' changed from 1 to 2."
    assert "comes from offset_1, whose result changed" in wb.explain(b)
    assert wb.value(b) == 8


def test_progress_display_outside_jupyter_is_a_text_bar(wb, capsys):
    from engine import progress

    @wb.node
    def steps(n: int = 4) -> int:
        for i in range(n):
            progress.update(i + 1, n)
        return n

    g = wb.graph()
    s = g.steps(n=4)
    r = wb.run(g, outputs=[s])  # progress=True is the default
    err = capsys.readouterr().err
    assert r.status == "success"
    assert "steps_1 (steps)" in err and "100.0%" in err
    assert "[######..................]  25.0%" in err  # the first update always shows
    assert "done: 1 ran, 0 cached" in err


def test_each_session_reads_and_writes_its_own_folders(tmp_path):
    """The last session created no longer decides where every session's files go."""
    first = Workbench(data_dir=tmp_path / "a", persist=False)
    second = Workbench(data_dir=tmp_path / "b", persist=False)
    try:
        for wb, colour in ((first, (255, 0, 0)), (second, (0, 0, 255))):
            assert wb.input_dir.is_dir()  # made by the session: put your images there
            PILImage.new("RGB", (4, 4), colour).save(wb.input_dir / "in.png")
        assert first.input_dir == tmp_path / "a" / "input"
        assert first.models_dir == tmp_path / "a" / "models"
        for wb in (first, second):
            g = wb.graph()
            image, _ = g.LoadImage(image="in.png")
            g.SaveImage(images=image, filename_prefix="out")
            r = wb.run(g, progress=False)
            assert r.status == "success", r
            assert [p.name for p in wb.output_dir.iterdir()] == ["out_00001_.png"]
            assert "workbench-result" in r._repr_html_()  # previews found in its folders
        red = np.asarray(PILImage.open(first.output_dir / "out_00001_.png"))[0, 0]
        blue = np.asarray(PILImage.open(second.output_dir / "out_00001_.png"))[0, 0]
        assert tuple(red) == (255, 0, 0) and tuple(blue) == (0, 0, 255)
        (first.input_dir / "only_a.png").write_bytes((first.input_dir / "in.png").read_bytes())
        choices = first.registry.get("LoadImage").spec().input("image").choices
        assert "only_a.png" in choices
        assert "only_a.png" not in second.registry.get("LoadImage").spec().input("image").choices
    finally:
        first.close()
        second.close()


def test_a_session_starts_on_a_history_with_a_mistyped_record(tmp_path):
    from engine.history import FILENAME

    with open(tmp_path / FILENAME, "w", encoding="utf-8") as f:
        f.write('{"prompt_id": "a", "number": 4, "status": "success"}\n')
        f.write('{"prompt_id": "x", "number": null}\n')
    with pytest.warns(RuntimeWarning, match="skipped 1"):
        session = Workbench(data_dir=tmp_path, persist=False)
    try:
        assert [r["prompt_id"] for r in session.queue.history()] == ["a"]
        assert session.queue.submit({})[0].number == 5
    finally:
        session.close()


class Unprintable:
    def __str__(self):
        raise RuntimeError("no text")

    __repr__ = __str__


GOOD_IMAGE = {"filename": "ok.png", "subfolder": "shots", "type": "output"}
ODD_UIS = {  # ui values a node pack (or an older cache entry) may hand over: (ui, images shown)
    "subfolder None": ({"images": [{"filename": "top.png", "subfolder": None}]}, 1),
    "filename not a string": (
        {"images": [{"filename": 5, "subfolder": ""}, {"filename": None}, GOOD_IMAGE]},
        1,
    ),
    "type not a string": ({"images": [{**GOOD_IMAGE, "type": ["output"]}, GOOD_IMAGE]}, 1),
    "entries not dicts": ({"images": ["ok.png", None, 3, ["x"], GOOD_IMAGE]}, 1),
    "ui not a dict": ("images", 0),
    "ui a list": ([GOOD_IMAGE], 0),
    "ui None": (None, 0),
    "images one dict": ({"images": GOOD_IMAGE}, 1),
    "images a number": ({"images": 5, "text": ["still shown"]}, 0),
    "images None": ({"images": None}, 0),
    "text a string": ({"text": "still shown"}, 0),
    "text a number": ({"text": 7, "images": [GOOD_IMAGE]}, 1),
    "text None": ({"text": None, "images": [GOOD_IMAGE]}, 1),
    "not an image file": ({"images": [{"filename": "junk.png"}, GOOD_IMAGE]}, 1),
    "outside the folder": ({"images": [{"filename": "../../x.png"}, GOOD_IMAGE]}, 1),
    "text that cannot be printed": ({"text": [Unprintable(), "still shown"]}, 0),
}


@pytest.mark.parametrize("case", list(ODD_UIS))
def test_results_render_what_they_can_of_odd_ui_values(wb, case):
    from engine import NodeOutput

    output = str(wb.output_dir)
    os.makedirs(os.path.join(output, "shots"), exist_ok=True)
    PILImage.new("RGB", (4, 4), "blue").save(os.path.join(output, "top.png"))
    PILImage.new("RGB", (4, 4), "red").save(os.path.join(output, "shots", "ok.png"))
    with open(os.path.join(output, "junk.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n not really")

    @wb.node(output=True)
    def note(x: int = 0) -> None:
        return NodeOutput(ui={"text": ["normal"]})

    g = wb.graph()
    g.note()
    r = wb.run(g, progress=False)
    ui, images = ODD_UIS[case]
    r.result.outputs = {"note_1": ui, "other": {"text": ["other text"]}}

    page = r._repr_html_()
    assert page.count("data:image/png;base64,") == images
    assert "note_1" in page and "other text" in page
    if case in ("images a number", "text a string", "text that cannot be printed"):
        assert "still shown" in page


def test_results_render_a_prompt_with_odd_node_types(wb):
    r = wb.run({"1": {"class_type": 5, "inputs": {}}}, progress=False)
    assert r.status == "invalid"
    assert "<table>" in r._repr_html_()


def test_results_render_a_value_whose_repr_fails(wb):
    @wb.node
    def make(x: int = 0) -> object:
        return Unprintable()

    g = wb.graph()
    g.make()
    page = wb.run(g, progress=False)._repr_html_()
    assert "make_1" in page and "Unprintable" in page
