"""The editor's kernel side (docs/editor-protocol.md), driven by a recording stand-in for the
canvas: what the canvas is sent, and what its messages do to the graph and the queue.
The canvas itself is tested in a real browser (tests/e2e)."""

from __future__ import annotations

import io
import json
import os
import shutil
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from xml.etree import ElementTree

import pytest
import torch
from PIL import Image as PILImage

from engine import Event, NodeOutput, progress
from workbench import Workbench
from workbench.widgets import Editor
from workbench.widgets.defs import node_defs
from workbench.widgets.previews import MAX_SIDE, encode, output_images, to_pil
from workbench.widgets.protocol import PROTOCOL
from workbench.widgets.queue_view import QueueView
from workbench.widgets.status import RunStatus

gate = threading.Event()  # the `wait` node blocks until it is set


@pytest.fixture
def wb(tmp_path):
    session = Workbench(data_dir=tmp_path, persist=False)

    @session.node
    def number(value: int = 1) -> int:
        return value

    @session.node
    def noisy(x: int, seed: int = 0) -> int:
        return x + seed

    @session.node
    def wait(x: int, steps: int = 3) -> int:
        for step in range(steps):
            progress.update(step, steps, preview=torch.rand(1, 8, 8, 3))
            while not gate.wait(0.01):
                progress.check_interrupted()
        return x

    @session.node(output=True)
    def show(value: int) -> None:
        return NodeOutput(ui={"text": [str(value)]})

    gate.set()
    yield session
    gate.set()
    session.close()


class Canvas:
    """Stands in for the browser: records what the kernel sends, sends what a canvas would."""

    def __init__(self, editor: Editor):
        self.editor = editor
        self.widget = editor.canvas
        self.sent: list[tuple[dict, list]] = []
        self.widget.send = lambda content, buffers=None: self.sent.append((content, buffers or []))

    def say(self, **content) -> None:
        self.widget._on_msg(self.widget, content, [])

    def flush(self) -> list[dict]:
        """Deliver what the throttle holds; the messages sent since the last call."""
        self.widget.flush_now()
        messages = [m for m, _ in self.sent]
        self.sent.clear()
        return messages

    def of(self, kind: str, messages: list[dict]) -> list[dict]:
        return [m for m in messages if m["type"] == kind]


def chain(wb, seed_policy=None):
    g = wb.graph()
    n = g.number(value=2)
    x = g.noisy(x=n, seed=5, **({"control_after_generate": seed_policy} if seed_policy else {}))
    g.show(value=x)
    return g


def test_a_new_view_gets_the_whole_graph_and_code_nodes_get_positions(wb):
    g = chain(wb)
    canvas = Canvas(wb.editor(g))
    canvas.say(type="hello", protocol=PROTOCOL)
    state = canvas.of("state", canvas.flush())[0]
    assert state["protocol"] == PROTOCOL == 2
    nodes = state["graph"]["nodes"]
    assert list(nodes) == ["number_1", "noisy_1", "show_1"]
    assert nodes["noisy_1"]["inputs"] == {"x": ["number_1", 0], "seed": 5}
    columns = [nodes[n]["ui"]["pos"][0] for n in nodes]
    assert columns[0] < columns[1] < columns[2]  # producers left of consumers
    assert canvas.widget.snapshot["nodes"] == nodes


def test_the_canvas_widget_opens_with_the_graph_and_a_view_gets_it_as_it_is_now(wb, monkeypatch):
    import ipywidgets.widgets.widget as widget_module

    opened = []
    create = widget_module.comm.create_comm
    monkeypatch.setattr(
        widget_module.comm,
        "create_comm",
        lambda **args: opened.append(args["data"]["state"]) or create(**args),
    )
    g = chain(wb)
    editor = wb.editor(g)
    (state,) = [s for s in opened if s.get("_model_name") == "AnyModel" and "snapshot" in s]
    # One message: the canvas builds the graph before its first view asks for it.
    assert list(state["snapshot"]["nodes"]) == ["number_1", "noisy_1", "show_1"]
    assert state["defs"]["noisy"]["inputs"][0]["name"] == "x"
    canvas = Canvas(editor)
    g.node("noisy_1").set(seed=9)  # just now: the snapshot trait is not written yet
    canvas.say(type="hello", protocol=PROTOCOL, revision=state["snapshot"]["revision"])
    (hello,) = canvas.of("state", canvas.flush())
    assert hello["graph"]["nodes"]["noisy_1"]["inputs"]["seed"] == 9


def test_a_view_that_has_the_graph_is_not_sent_it_again(wb):
    g = chain(wb)
    canvas = Canvas(wb.editor(g))
    built = canvas.widget.snapshot["revision"]  # the canvas built the snapshot it came with
    canvas.say(type="hello", protocol=PROTOCOL, revision=built)
    (state,) = canvas.of("state", canvas.flush())
    assert state["graph"] is None and state["status"] is not None
    canvas.say(type="hello", protocol=PROTOCOL, revision=None)  # built nothing yet
    assert canvas.of("state", canvas.flush())[0]["graph"]["nodes"].keys() == g.state().keys()
    # Any change since (in code, or the canvas's own edit): the graph, at its new revision.
    for change in (
        lambda: g.node("noisy_1").set(seed=9),
        lambda: canvas.say(
            type="edit", seq=1, ops=[{"op": "set_inputs", "id": "noisy_1", "inputs": {"seed": 3}}]
        ),
    ):
        change()
        canvas.say(type="hello", protocol=PROTOCOL, revision=built)
        (state,) = canvas.of("state", canvas.flush())
        assert (
            state["graph"]["nodes"]["noisy_1"]["inputs"]["seed"]
            == g.state()["noisy_1"]["inputs"]["seed"]
        )
        assert state["graph"]["revision"] > built
        built = state["graph"]["revision"]  # what the canvas now has
    canvas.widget._save_snapshot()  # the trait, written after a quiet half second
    assert canvas.widget.snapshot["revision"] == built
    canvas.say(type="hello", protocol=PROTOCOL, revision=built)
    assert canvas.of("state", canvas.flush())[0]["graph"] is None


def test_the_snapshot_trait_is_written_once_the_edits_have_settled(wb):
    # Not at the first edit: the whole graph as JSON would be serialized and sent on the way
    # from an edit to its run. A long settling time here: nothing is written while it lasts.
    g = chain(wb)
    canvas = Canvas(wb.editor(g))
    canvas.widget._snapshots.interval = 60
    written = []
    canvas.widget.observe(lambda change: written.append(change["new"]), names="snapshot")
    for seed in (3, 4):
        canvas.say(
            type="edit",
            seq=seed,
            ops=[{"op": "set_inputs", "id": "noisy_1", "inputs": {"seed": seed}}],
        )
    g.node("number_1").set(value=7)
    time.sleep(0.3)  # a write at the first edit would have happened by now
    assert written == []
    canvas.widget._snapshots.flush_now()
    (snapshot,) = written
    assert snapshot["nodes"]["noisy_1"]["inputs"]["seed"] == 4
    assert snapshot["nodes"]["number_1"]["inputs"]["value"] == 7


def test_canvas_edits_change_the_graph_once_and_are_not_echoed(wb):
    g = chain(wb)
    canvas = Canvas(wb.editor(g))
    canvas.flush()
    canvas.say(
        type="edit",
        seq=1,
        ops=[
            {"op": "set_inputs", "id": "number_1", "inputs": {"value": 7}},
            {"op": "set_ui", "id": "show_1", "ui": {"pos": [900, 40]}},
            {
                "op": "add_node",
                "id": "12",
                "class_type": "number",
                "inputs": {"value": 3},
                "ui": {"pos": [0, 400]},
                "control": {},
            },
            {"op": "set_inputs", "id": "noisy_1", "inputs": {"x": ["12", 0]}},
        ],
    )
    assert g.to_prompt()["number_1"]["inputs"]["value"] == 7
    assert g.node("show_1").ui["pos"] == [900, 40]
    assert g.to_prompt()["noisy_1"]["inputs"]["x"] == ["12", 0]
    messages = canvas.flush()
    assert canvas.of("ops", messages) == []
    assert canvas.of("rejected", messages) == []


def test_code_edits_reach_the_canvas_as_ops(wb):
    g = chain(wb)
    canvas = Canvas(wb.editor(g))
    canvas.flush()
    g.node("number_1").set(value=9)
    g.set_mode("show_1", "bypass")
    (ops,) = canvas.of("ops", canvas.flush())
    assert {"op": "set_inputs", "id": "number_1", "inputs": {"value": 9}} in ops["ops"]
    assert {"op": "set_ui", "id": "show_1", "ui": {"mode": 4}} in ops["ops"]


def test_a_node_added_in_code_gets_a_position_right_of_its_producer(wb):
    g = chain(wb)
    canvas = Canvas(wb.editor(g))
    canvas.flush()
    g.show(value=g.node("number_1"))
    ops = canvas.of("ops", canvas.flush())[0]["ops"]
    assert [o["op"] for o in ops] == ["add_node", "set_ui"]
    assert ops[1]["ui"]["pos"][0] > g.node("number_1").ui["pos"][0]


@pytest.mark.parametrize(
    "op",
    [
        {"op": "set_inputs", "id": "number_1", "inputs": {"value": "many"}},
        {"op": "set_inputs", "id": "show_1", "inputs": {"value": ["nowhere", 0]}},
        {"op": "add_node", "id": "7", "class_type": "NoSuchNode", "inputs": {}},
        {"op": "remove_node", "id": "ghost"},
    ],
    ids=["wrong-kind", "dangling-link", "unknown-type", "unknown-node"],
)
def test_a_rejected_edit_changes_nothing_and_the_canvas_gets_the_graph_back(wb, op):
    g = chain(wb)
    canvas = Canvas(wb.editor(g))
    canvas.flush()
    before = g.state()
    canvas.say(type="edit", seq=4, ops=[op])
    assert g.state() == before
    messages = canvas.flush()
    rejected = canvas.of("rejected", messages)
    assert rejected and rejected[0]["seq"] == 4 and rejected[0]["message"]
    assert [m["type"] for m in messages].index("rejected") < [m["type"] for m in messages].index(
        "state"
    )
    assert canvas.of("state", messages)[0]["graph"]["nodes"].keys() == before.keys()


def test_node_defs_take_each_inputs_kind_and_seed_control_from_its_spec(wb):
    class Forced:
        RETURN_TYPES = ("INT",)
        FUNCTION = "run"
        CATEGORY = "test"

        @classmethod
        def INPUT_TYPES(cls):
            return {
                "required": {
                    "socket": ("INT", {"forceInput": True}),
                    "noise_seed": ("INT", {"default": 0}),
                    "choice": (["a", "b"], {"tooltip": "pick one"}),
                }
            }

        def run(self, socket, noise_seed, choice):
            return (socket,)

    wb.registry.register(Forced, display_name="Forced inputs")
    defs = node_defs(wb.registry)["Forced"]
    inputs = {i["name"]: i for i in defs["inputs"]}
    assert inputs["socket"]["kind"] == "link"
    assert inputs["noise_seed"]["kind"] == "widget" and inputs["noise_seed"]["control"]
    assert inputs["choice"]["type"] == ["a", "b"] and inputs["choice"]["tooltip"] == "pick one"
    assert defs["display_name"] == "Forced inputs" and defs["category"] == "test"
    assert defs["outputs"] == [{"name": "INT", "type": "INT", "is_list": False, "tooltip": ""}]


def _event(kind, prompt_id="p1", timestamp=1000, **data):
    return Event(kind, {**data, "prompt_id": prompt_id, "timestamp": timestamp})


def test_status_marks_cached_running_ran_and_drops_progress_after_an_interrupt():
    status = RunStatus(lambda prompt_id: prompt_id != "other", lambda: None)
    status.on_event(_event("execution_start"))
    status.on_event(_event("execution_cached", nodes=["a"]))
    status.on_event(_event("executing", node="b", timestamp=1000))
    status.on_event(_event("progress", node="b", value=1, max=4, timestamp=1010))
    message, _ = status.take()
    assert message["reset"]
    assert message["nodes"] == {
        "a": {"state": "cached"},
        "b": {"state": "running", "progress": 0.25},
    }
    status.on_event(_event("executing", node="c", timestamp=1250))
    assert status.nodes["b"] == {"state": "ran", "ms": 250}
    status.on_event(_event("progress", node="c", value=1, max=2, timestamp=1260))
    status.on_event(_event("execution_interrupted", node_id="c"))
    status.on_event(_event("progress", node="c", value=2, max=2, timestamp=1300))  # late
    message, previews = status.take()
    assert "progress" not in message["nodes"]["c"]
    assert status.running is None and previews == {}
    # A run of another graph leaves these marks alone.
    status.on_event(_event("execution_start", prompt_id="other"))
    status.on_event(_event("execution_cached", prompt_id="other", nodes=["b"]))
    assert status.nodes["b"] == {"state": "ran", "ms": 250}


def test_a_run_sends_status_progress_previews_and_output_text(wb):
    g = wb.graph()
    w = g.wait(x=g.number(value=4), steps=2)
    g.show(value=w)
    editor = wb.editor(g)
    canvas = Canvas(editor)
    (job,) = editor.run()
    job.result(timeout=60)
    wb.queue.join(timeout=60)
    messages = canvas.flush()
    status = {}
    for m in canvas.of("status", messages):
        status.update(m["nodes"])
    assert status["wait_1"]["state"] == "ran" and status["show_1"]["state"] == "ran"
    previews = [(m, b) for m, b in canvas.sent if m["type"] == "preview"]
    texts = canvas.of("text", messages)
    assert texts == [{"type": "text", "node": "show_1", "text": ["4"]}]
    second = editor.run()[0]
    second.result(timeout=60)
    wb.queue.join(timeout=60)
    again = canvas.flush()
    states = {}
    for m in canvas.of("status", again):
        states.update(m["nodes"])
    assert states["wait_1"]["state"] == "cached"
    assert previews == [] or all(m["kind"] == "progress" for m, _ in previews)


def test_previews_are_png_bytes_at_most_512_px(wb, tmp_path):
    picture = to_pil(torch.rand(2, 700, 1400, 3))
    data = encode(picture)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    decoded = PILImage.open(io.BytesIO(data))
    assert max(decoded.size) == MAX_SIDE and decoded.size == (512, 256)
    from nodes import folders

    out = folders.get_directory("output")
    os.makedirs(out, exist_ok=True)
    PILImage.new("RGB", (1024, 64), "red").save(f"{out}/big.png")
    (image,) = output_images(
        {"images": [{"filename": "big.png", "subfolder": "", "type": "output"}]}
    )
    assert PILImage.open(io.BytesIO(image)).size == (512, 32)
    escaping = {"images": [{"filename": "../../secret.png", "subfolder": "", "type": "output"}]}
    assert output_images(escaping) == []


def test_queue_panel_gets_deltas_of_a_thousand_jobs(wb):
    g = wb.graph()
    g.show(value=g.wait(x=g.number(value=1), steps=1))
    gate.clear()
    view = QueueView(wb.queue)
    first = wb.queue.submit(g.to_prompt())[0]
    jobs = []
    for i in range(1000):
        jobs += wb.queue.submit(
            {**g.to_prompt(), "number_1": {"class_type": "number", "inputs": {"value": i}}}
        )
    delta = view.delta()
    assert len(delta["added"]) == 1001 and delta["removed"] == []
    assert [e["id"] for e in delta["added"][:2]] == [first.id, jobs[0].id]
    assert delta["added"][1]["after"] == first.id
    assert view.delta() is None  # nothing changed: nothing sent
    wb.queue.cancel(jobs[500])
    assert view.delta() == {"type": "queue", "added": [], "changed": [], "removed": [jobs[500].id]}
    wb.queue.clear()
    removed = view.delta()["removed"]
    assert len(removed) == 999 and jobs[0].id in removed
    gate.set()
    wb.queue.join(timeout=60)
    assert view.delta()["removed"] == [first.id]


def test_a_job_that_starts_while_the_queue_is_read_is_in_the_delta():
    class Queue:
        """Its one job starts (pending -> running) right after the first look at it."""

        def __init__(self):
            self.job = SimpleNamespace(id="j1", number=1, status="pending")
            self.looks = 0

        def _started(self) -> bool:
            self.looks += 1
            if self.looks > 1:
                self.job.status = "running"
            return self.looks > 1

        def running(self):
            return self.job if self._started() else None

        def pending(self):
            return [] if self._started() else [self.job]

    delta = QueueView(Queue()).delta()
    assert delta is not None
    assert delta["added"] == [{"id": "j1", "number": 1, "status": "running", "after": None}]


def test_run_on_change_queues_one_run_per_change_never_for_a_move(wb, monkeypatch):
    # A debounce long enough that two edits in a row fall in it on a busy machine.
    monkeypatch.setattr("workbench.widgets.runner.CHANGE_DEBOUNCE", 0.5)
    g = chain(wb, seed_policy="randomize")
    editor = wb.editor(g)
    Canvas(editor)
    editor.mode.value = "change"
    editor.run()  # arms the mode and runs once
    wb.queue.join(timeout=60)
    runs = len(wb.queue.history())
    g.set_ui("number_1", pos=[10, 10], title="moved")  # not what runs
    wb.queue.join(timeout=60)
    assert len(wb.queue.history()) == runs
    g.node("number_1").set(value=3)
    g.node("number_1").set(value=4)  # within the debounce: one run of the latest
    wb.queue.join(timeout=60)
    history = wb.queue.history()
    assert len(history) == runs + 1
    assert history[-1]["prompt"]["number_1"]["inputs"]["value"] == 4
    # The seed written back after the run (randomize) is not a change of its own.
    wb.queue.join(timeout=60)
    assert len(wb.queue.history()) == runs + 1
    editor.mode.value = "run"
    g.node("number_1").set(value=5)
    wb.queue.join(timeout=60)
    assert len(wb.queue.history()) == runs + 1


def test_run_on_change_queues_a_canvas_edit_at_once_one_run_per_message(wb, monkeypatch):
    # A debounce no test waits for: only a canvas message's own end may queue its run.
    monkeypatch.setattr("workbench.widgets.runner.CHANGE_DEBOUNCE", 60)
    g = chain(wb)
    editor = wb.editor(g)
    canvas = Canvas(editor)
    editor.mode.value = "change"
    editor.run()  # arms the mode and runs once
    wb.queue.join(timeout=60)
    runs = len(wb.queue.history())
    ops = [
        {"op": "set_inputs", "id": "number_1", "inputs": {"value": 7}},
        {"op": "set_inputs", "id": "noisy_1", "inputs": {"seed": 8}},
    ]
    canvas.say(type="edit", seq=1, ops=ops)
    assert not wb.queue.auto.debouncing  # queued, not waiting for the debounce
    assert wb.queue.join(timeout=60)
    history = wb.queue.history()
    assert len(history) == runs + 1  # the message's two ops: one run, of both
    assert history[-1]["outputs"]["show_1"]["text"] == ["15"]
    g.node("number_1").set(value=1)  # a code edit still waits for the debounce
    assert wb.queue.auto.debouncing
    wb.queue.auto.stop()


def test_each_kind_of_update_has_its_own_rate_limit(wb, monkeypatch):
    # One flush a minute of each kind: whatever a run sends after the queue delta that
    # announced it (its status, then its output) arrives only if the kinds are separate.
    monkeypatch.setattr("workbench.widgets.editor.UPDATES_PER_SECOND", 1 / 60)
    g = chain(wb)
    editor = wb.editor(g)
    canvas = Canvas(editor)
    (job,) = editor.run()
    job.result(timeout=60)
    deadline = time.monotonic() + 30  # far less than a minute: no kind waits for another
    kinds: list[str] = []
    while time.monotonic() < deadline and not {"queue", "status", "text"} <= set(kinds):
        time.sleep(0.02)  # each kind is flushed by a timer thread of its own, in any order
        kinds = [m["type"] for m, _ in canvas.sent]
    assert "queue" in kinds and "status" in kinds
    assert canvas.of("text", [m for m, _ in canvas.sent]) == [
        {"type": "text", "node": "show_1", "text": ["7"]}
    ]


def test_run_instant_stops_by_itself_when_nothing_changes_and_on_stop(wb):
    g = chain(wb)  # a fixed seed: the second run would be identical
    editor = wb.editor(g)
    canvas = Canvas(editor)
    editor.mode.value = "instant"
    editor.run()
    assert wb.queue.join(timeout=60)
    records = wb.queue.history()
    assert [bool(r["executed"]) for r in records] == [True, False]
    canvas.flush()
    assert editor.mode.value == "run"  # the controls follow the queue's auto mode
    # With a randomized seed it goes on until ✕, which also interrupts.
    g.node("noisy_1").set(control_after_generate="randomize")
    editor.mode.value = "instant"
    editor.run()
    gate.clear()
    g.node("noisy_1").set(x=g.wait(x=g.node("number_1"), steps=50))
    editor.stop()
    gate.set()
    assert wb.queue.join(timeout=60)
    assert wb.queue.auto_mode == "disabled" and editor.mode.value == "run"


def test_an_invalid_graph_marks_its_nodes_and_queues_nothing(wb):
    g = chain(wb)
    editor = wb.editor(g)
    canvas = Canvas(editor)
    g.remove("number_1")  # noisy_1's x now dangles
    assert editor.run() is None
    (errors,) = [m for m in canvas.of("errors", canvas.flush()) if m["message"]]
    assert errors["nodes"]["noisy_1"]["inputs"] == ["x"]
    assert wb.queue.history() == []
    g.node("noisy_1").set(x=g.number(value=1))  # fixed: the next run clears the marks
    editor.run()[0].result(timeout=60)
    assert canvas.of("errors", canvas.flush()) == [{"type": "errors", "message": "", "nodes": {}}]
    editor.run()[0].result(timeout=60)  # nothing shown: nothing to clear, nothing sent
    assert canvas.of("errors", canvas.flush()) == []


def test_run_selected_runs_only_that_branch(wb):
    g = chain(wb)
    other = g.show(value=g.number(value=8))
    editor = wb.editor(g)
    canvas = Canvas(editor)
    canvas.say(type="selection", nodes=[other.id])
    (job,) = editor.run_selected()
    record = job.result(timeout=60)
    assert record.executed == {other.id, "number_2"}
    canvas.say(type="selection", nodes=[])
    assert editor.run_selected() is None


def test_no_control_of_the_editor_has_a_description(wb):
    """JupyterLab typesets a control's description as LaTeX: the first one on a page loads
    MathJax, ~0.2 s of the first editor's load. Labels are HTML widgets instead."""
    import ipywidgets
    from ipywidgets.widgets.widget_description import DescriptionWidget

    bar = wb.editor(chain(wb)).children[0].children
    typeset = [  # a Button's description is its text, never typeset
        c.description
        for c in bar
        if isinstance(c, DescriptionWidget) and not isinstance(c, ipywidgets.Button)
    ]
    assert len(typeset) >= 2 and not any(typeset)  # the batch count and the mode


def test_the_static_picture_is_an_svg_of_the_graph_with_missing_nodes_marked(wb):
    g = chain(wb)
    g.apply({"op": "add_node", "id": "9", "class_type": "FromAPackWeLack", "inputs": {"a": 1}})
    bundle = wb.editor(g)._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    # An image, not HTML: JupyterLab sanitizes every text/html output to find headings.
    assert "text/html" not in bundle
    svg = bundle["image/svg+xml"]
    root = ElementTree.fromstring(svg)  # a well-formed SVG document
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "number #number_1" in texts and "value: 2" in texts and "seed: 5" in texts
    assert "FromAPackWeLack #9 (missing)" in texts and "a: 1" in texts
    (links,) = root.iter("{http://www.w3.org/2000/svg}path")  # every link, one path
    assert links.get("d").count("M") == 2  # number_1 -> noisy_1 -> show_1
    empty = ElementTree.fromstring(wb.editor(wb.graph())._repr_mimebundle_()["image/svg+xml"])
    assert "".join(empty.itertext()) == "(empty graph)"


def test_nbconvert_shows_the_static_picture_of_a_notebook_saved_without_widget_state(wb):
    import base64

    import nbconvert
    import nbformat

    data = wb.editor(chain(wb))._repr_mimebundle_()
    cell = nbformat.v4.new_code_cell("wb.editor(g)")
    cell.outputs = [nbformat.v4.new_output("execute_result", data=data, execution_count=1)]
    notebook = nbformat.v4.new_notebook(cells=[cell])
    page, _ = nbconvert.HTMLExporter().from_notebook_node(notebook)
    encoded = base64.b64encode(data["image/svg+xml"].encode()).decode()
    assert f'src="data:image/svg+xml;base64,{encoded}"' in page


WORKFLOWS = Path(__file__).parent / "workflows"


def test_a_dropped_workflow_replaces_the_graph_and_saves_back_unchanged(wb):
    g = chain(wb)
    editor = wb.editor(g)
    canvas = Canvas(editor)
    canvas.flush()
    data = (WORKFLOWS / "basic_0_4.json").read_bytes()
    canvas.widget._on_msg(canvas.widget, {"type": "drop", "name": "basic.json"}, [data])
    opened, report = wb.open(json.loads(data))
    assert g.state() == opened.state() and g.to_prompt() == opened.to_prompt()
    messages = canvas.flush()
    added = [o for o in canvas.of("ops", messages)[0]["ops"] if o["op"] == "add_node"]
    assert [o["id"] for o in added] == list(opened.state())
    # The pack node the file names is missing: the canvas is told, with the report's table.
    (error,) = [m for m in canvas.of("errors", messages) if m.get("message")]
    assert report.unknown_types == {"FancyUpscale": ["4"]}
    assert "Opened basic.json" in error["message"] and "FancyUpscale" in error["message"]
    saved = json.loads(editor.save("back.json").read_text())
    assert json.dumps(saved, sort_keys=True) == json.dumps(json.loads(data), sort_keys=True)


def test_the_editor_opens_a_workflow_file_with_its_layout(wb, capsys):
    shutil.copy(WORKFLOWS / "basic_0_4.json", wb.input_dir / "basic.json")
    editor = wb.editor("basic.json")  # a file name in the input folder
    assert "FancyUpscale" in capsys.readouterr().err  # the report: a pack node we lack
    document = json.loads((WORKFLOWS / "basic_0_4.json").read_text())
    assert editor.graph.state()["2"]["ui"]["pos"] == document["nodes"][1]["pos"]
    assert json.loads(editor.save("same.json").read_text()) == document


def test_a_dropped_png_opens_the_workflow_a_run_wrote_into_it(wb):
    g = wb.graph()
    g.SaveImage(images=g.EmptyImage(width=8, height=8, color=255), filename_prefix="dropped")
    r = wb.run(g, progress=False)
    (image,) = r.outputs[list(r.outputs)[0]]["images"]
    png = (wb.output_dir / image["subfolder"] / image["filename"]).read_bytes()
    other = chain(wb)
    editor = wb.editor(other)
    canvas = Canvas(editor)
    canvas.widget._on_msg(canvas.widget, {"type": "drop", "name": "image.png"}, [png])
    # Built in code, the graph was written with ComfyUI's numeric ids: same nodes, renumbered.
    prompt = other.to_prompt()
    assert sorted((n["class_type"], n["inputs"].get("color")) for n in prompt.values()) == [
        ("EmptyImage", 255),
        ("SaveImage", None),
    ]
    assert not [m for m in canvas.of("errors", canvas.flush()) if m.get("message")]


@pytest.mark.parametrize(
    "data",
    [
        b"not json at all",
        b"/etc/passwd",
        b"[" * 100_000,
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
        b'{"nodes": 7}',
        b"\xff\xfe",
    ],
)
def test_a_dropped_file_we_cannot_read_is_said_and_the_graph_kept(wb, data):
    g = chain(wb)
    editor = wb.editor(g)
    canvas = Canvas(editor)
    canvas.flush()
    before = g.state()  # with the positions the editor gave
    canvas.widget._on_msg(canvas.widget, {"type": "drop", "name": "bad.json"}, [data])
    (error,) = [m for m in canvas.of("errors", canvas.flush()) if m.get("message")]
    assert error["message"].startswith("Cannot open bad.json: bad.json")
    assert g.state() == before


def test_the_editor_saves_through_wb_save(wb):
    g = chain(wb)
    editor = wb.editor(g)
    path = editor.save("w.api.json")
    assert path == wb.output_dir / "w.api.json"
    prompt = json.loads(path.read_text())
    assert {n: v["inputs"] for n, v in prompt.items()} == {
        n: v["inputs"] for n, v in g.to_prompt().items()
    }
