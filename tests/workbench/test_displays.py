"""What a notebook shows of a run: one truth per run (the progress line, the table and
``r.executed`` / ``r.cached`` agree), a display that ends with its run, static fallbacks
in every widget bundle, and readable ``wb.queue`` / ``wb.history``."""

from __future__ import annotations

import re
import threading

import IPython.display
import pytest

from engine import Event, GraphBuilder, progress
from workbench import Workbench
from workbench import progress_display as progress_display_module
from workbench.progress_display import WIDGET_VIEW

TIMEOUT = 60.0
ROW = re.compile(r"<tr><td>([^<]*)</td><td>[^<]*</td><td style='[^']*'>([^<]*)</td>")
COUNTS = re.compile(r"(\d+) ran, (\d+) cached")


@pytest.fixture
def wb(tmp_path):
    session = Workbench(data_dir=tmp_path, persist=False)

    @session.node
    def one(x: int = 1) -> int:
        return x

    @session.node
    def double(x: int) -> int:
        return 2 * x

    @session.node
    def plus(x: int, y: int) -> int:
        return x + y

    @session.node
    def boom(x: int) -> int:
        raise ValueError(f"cannot use {x}")

    @session.node
    class Twice:
        """Expands into two ``double`` nodes (nodes the prompt does not list)."""

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"x": ("INT", {"default": 1})}}

        RETURN_TYPES = ("INT",)
        FUNCTION = "expand"

        def expand(self, x):
            g = GraphBuilder()
            first = g.node("double", x=x)
            second = g.node("double", x=first.out(0))
            return {"result": (second.out(0),), "expand": g.finalize()}

    yield session
    session.close()


def ticking(wb):
    started = threading.Event()

    @wb.node
    def ticking(x: int) -> int:
        started.set()
        for step in range(int(TIMEOUT / 0.005)):
            progress.update(step, None)  # where the interrupt stops it
            started.wait(0.005)
        return x

    return started


def run_to(wb, outcome: str):
    """A run ending in ``outcome``, with the progress display on (text, outside Jupyter)."""
    g = wb.graph()
    a = g.one(x=3)
    if outcome in ("success", "cached"):
        d = g.double(x=g.double(x=a))
        if outcome == "cached":
            wb.run(g, outputs=[d], progress=False)
        return wb.run(g, outputs=[d])
    if outcome == "expanded":
        return wb.run(g, outputs=[g.Twice(x=a)])
    if outcome == "reused":  # two identical nodes: computed once
        return wb.run(g, outputs=[g.plus(x=g.double(x=a), y=g.double(x=a))])
    if outcome == "error":
        return wb.run(g, outputs=[g.boom(x=g.double(x=a))])
    if outcome == "invalid":
        return wb.run({"a": {"class_type": "double", "inputs": {}}})  # x is required
    assert outcome == "interrupted"
    started = ticking(wb)
    t = g.ticking(x=g.double(x=a))
    threading.Thread(target=lambda: started.wait(TIMEOUT) and wb.queue.interrupt()).start()
    return wb.run(g, outputs=[t])


@pytest.mark.parametrize(
    "outcome", ["success", "cached", "reused", "expanded", "error", "interrupted", "invalid"]
)
def test_the_progress_line_the_table_and_the_sets_agree(wb, capsys, outcome):
    r = run_to(wb, outcome)
    expected = outcome if outcome in ("error", "interrupted", "invalid") else "success"
    assert r.status == expected
    last_line = re.split(r"[\r\n]", capsys.readouterr().err.strip())[-1]
    counts = COUNTS.search(last_line)
    assert counts, f"the display did not end on a result: {last_line!r}"
    ran, cached = map(int, counts.groups())
    assert (ran, cached) == (len(r.executed), len(r.cached))

    page = r._repr_html_()
    assert f"{ran} ran, {cached} cached" in page.split("<table>")[0]  # the header line
    rows = dict(ROW.findall(page))
    failed = (r.error or {}).get("node_id") if r.status in ("error", "interrupted") else None
    assert {n for n, state in rows.items() if state == "executed"} | (
        {failed} & r.executed
    ) == r.executed
    assert {n for n, state in rows.items() if state == "cached"} == r.cached
    assert {n for n, state in rows.items() if state == "reused"} == r.reused
    assert (f", {len(r.reused)} reused" in last_line) == bool(r.reused)
    if failed is not None:
        assert rows[failed] == ("error" if r.status == "error" else "interrupted")
    if outcome == "invalid":
        assert rows == {"a": "invalid"} and "Required input is missing" in last_line
    if outcome == "expanded":
        assert len(rows) == 4 and len(r.executed) == 4  # one, Twice and the two it added
    if outcome == "reused":
        assert len(r.reused) == 1 and len(r.executed) == 3
    assert last_line == r.summary  # the display ends on the result's own line


def test_the_display_stops_updating_when_its_run_ends(wb, capsys):
    g = wb.graph()
    a = g.one(x=1)
    r = wb.run(g, outputs=[a])
    capsys.readouterr()
    job = r.job
    for event in (  # late events of that job (the worker thread may still send some)
        Event.make("execution_start", job.id),
        Event.make("executing", job.id, node="one_1"),
        Event.make("progress", job.id, node="one_1", value=1, max=2),
        Event.make("execution_interrupted", job.id, node_id="one_1"),
    ):
        job._events.publish(event)
    assert capsys.readouterr().err == ""


@pytest.fixture
def notebook(monkeypatch):
    """What the display publishes, as in a Jupyter kernel: ("display" | "update", bundle, id)."""
    published = []

    def display(obj, *, raw=False, display_id=None, **_):
        published.append(("display", obj, display_id))

    def update_display(obj, *, raw=False, display_id=None, **_):
        published.append(("update", obj, display_id))

    monkeypatch.setattr(IPython.display, "display", display)
    monkeypatch.setattr(IPython.display, "update_display", update_display)
    monkeypatch.setattr(progress_display_module, "in_notebook", lambda: True)
    return published


def test_every_widget_bundle_has_a_static_fallback_and_ends_static(wb, notebook):
    g = wb.graph()
    a = g.one(x=1)
    r = wb.run(g, outputs=[a])
    (kind, live, display_id), *_, (last, final, final_id) = notebook
    assert kind == "display" and display_id
    assert set(live) == {WIDGET_VIEW, "text/html", "text/plain"}
    assert live["text/plain"] == "queued…"  # never the widget's repr
    assert "queued…" in live["text/html"]
    # When the run ends its display becomes static: no widget left for a saved notebook.
    assert (last, final_id) == ("update", display_id)
    assert set(final) == {"text/html", "text/plain"}
    assert final["text/plain"] == r.summary
    assert "1 ran, 0 cached" in final["text/html"]


def test_a_background_job_shown_in_a_cell(wb, notebook):
    started = ticking(wb)
    g = wb.graph()
    t = g.ticking(x=g.one(x=1))
    job = wb.run(g, outputs=[t], wait=False)
    assert notebook == []  # shown only when displayed
    assert started.wait(TIMEOUT)
    job._ipython_display_()  # what `job` as a cell's last line does
    ((kind, live, display_id),) = notebook
    assert kind == "display" and WIDGET_VIEW in live and "text/html" in live
    assert "running" in live["text/plain"]
    job.cancel()
    r = job.result(TIMEOUT)
    (last, final, final_id) = notebook[-1]
    assert (last, final_id) == ("update", display_id)
    assert WIDGET_VIEW not in final and final["text/plain"] == r.summary
    assert "<table>" in final["text/html"]  # a background job's display ends on its result

    job._ipython_display_()  # shown again once finished: static at once
    assert notebook[-1][0] == "display" and WIDGET_VIEW not in notebook[-1][1]


def test_queue_and_history_are_readable(wb):
    started = ticking(wb)
    g = wb.graph()
    g.ticking(x=g.one(x=1))
    running = wb.run(g, wait=False)
    assert started.wait(TIMEOUT)
    quick = wb.graph()
    quick.one(x=2)
    pending = wb.run(quick, wait=False)

    text = repr(wb.queue)
    assert text.splitlines()[0] == "Queue: 1 running, 1 pending"
    assert f"#{running.number}" in text and "ticking_1 (ticking)" in text
    assert f"#{pending.number}" in text and "pending" in text
    assert "<table>" in wb.queue._repr_html_()

    running.cancel()
    assert pending.result(TIMEOUT).status == "success"
    assert running.result(TIMEOUT).status == "interrupted"
    assert repr(wb.queue) == "Queue: idle"
    history = repr(wb.history).splitlines()
    assert history[0] == "History: 2 runs"
    assert re.match(rf"\s+#{running.number}\s+interrupted\s+\d\d:\d\d:\d\d\s+[\d.]+ s", history[1])
    assert "at ticking_1" in history[1]
    assert re.match(rf"\s+#{pending.number}\s+success\s+.*1 ran, 0 cached", history[2])
    assert len(wb.history) == 2 and wb.history[-1]["prompt_id"] == pending.id
    assert "<table>" in wb.history._repr_html_()

    for x in range(10):
        quick.node("one_1").set(x=10 + x)
        wb.run(quick, progress=False)
    assert repr(wb.history).splitlines()[0] == "History: 12 runs (the last 10)"
    assert len(repr(wb.history).splitlines()) == 11


def test_a_run_the_queue_refuses_leaves_no_live_display(wb, notebook):
    g = wb.graph()
    g.one(x=1)
    with pytest.raises(ValueError, match="over the limit"):
        wb.run(g, number=500)
    (_, _, display_id), (last, final, final_id) = notebook
    assert (last, final_id) == ("update", display_id)
    assert WIDGET_VIEW not in final
    assert final["text/plain"].startswith("not queued: batch count 500 is over the limit")
