"""The session in-process: runs, results, kernel values as inputs, explain."""

import dataclasses

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
    assert "done: 1 ran, 0 cached" in err
