"""``Editor``: the Run & Stop bar (ipywidgets) above the canvas, for one graph.

▷ Run with a batch count (1..the queue's ``batch_limit``, ComfyUI's "Batch count
limit"), the mode (Run / Run (On Change) / Run (Instant)), Run selected (the
selected nodes' branches only), ✕ (leave the auto mode and interrupt), and
Clear pending. The queue panel, the gallery and the error panel are part of
the canvas widget (they follow queue deltas, see ``docs/editor-protocol.md``).

Outside a widget frontend (nbconvert, GitHub) the editor shows a static SVG of
the graph (``image/svg+xml`` in its display data, see ``svg.py``).
"""

from __future__ import annotations

import ipywidgets as w
from ipywidgets.widgets.widget_description import DescriptionStyle

from ..graph import Graph
from .editor import GraphEditor
from .runner import Runner
from .svg import graph_svg

MODE_OPTIONS = [("Run", "run"), ("Run (On Change)", "change"), ("Run (Instant)", "instant")]


class Editor(w.VBox):
    """The controls and the canvas of ``graph`` (``wb.editor(g)``)."""

    def __init__(self, workbench, graph: Graph, height: int = 600):
        self.workbench = workbench
        self.graph = graph
        self.canvas = GraphEditor(workbench, graph, height=height)
        self.runner = Runner(workbench, graph, self.canvas.show_errors)
        limit = workbench.queue.batch_limit
        # Each layout and style is a widget of its own (a message to the page, a model there):
        # the controls share those they have in common, 21 widgets instead of 27.
        buttons = {"style": w.ButtonStyle(), "layout": w.Layout()}
        described = DescriptionStyle()
        self.run_button = w.Button(
            description="Run",
            icon="play",
            button_style="primary",
            tooltip="Run (Ctrl+Enter)",
            **buttons,
        )
        # Its label is an HTML widget, not a ``description``: JupyterLab typesets every
        # description as LaTeX, and the first one on a page loads MathJax (~0.2 s).
        self.batch_label = w.HTML("batch", layout=w.Layout(margin="0 0 0 8px"))
        self.batch_count = w.BoundedIntText(
            value=1, min=1, max=limit, layout=w.Layout(width="90px"), style=described
        )
        self.mode = w.Dropdown(
            options=MODE_OPTIONS, value="run", layout=w.Layout(width="160px"), style=described
        )
        self.run_selected_button = w.Button(
            description="Run selected",
            tooltip="Run the selected nodes' branches only (Alt+Enter)",
            **buttons,
        )
        self.stop_button = w.Button(
            description="✕",
            tooltip="Interrupt the running job (and leave the auto mode)",
            layout=w.Layout(width="44px"),
            style=buttons["style"],
        )
        self.clear_button = w.Button(
            description="Clear pending", tooltip="Remove every pending job", **buttons
        )
        for button, name in [
            (self.run_button, "run"),
            (self.batch_count, "batch-count"),
            (self.mode, "mode"),
            (self.run_selected_button, "run-selected"),
            (self.stop_button, "stop"),
            (self.clear_button, "clear"),
        ]:
            button.add_class(f"wb-{name}")
        self.run_button.on_click(lambda _: self.run())
        self.run_selected_button.on_click(lambda _: self.run_selected())
        self.stop_button.on_click(lambda _: self.stop())
        self.clear_button.on_click(lambda _: self.runner.clear())
        self.mode.observe(self._mode_changed, names="value")
        self.canvas.on_run = self._shortcut
        self.canvas.on_queue_change = self._queue_changed
        self.canvas.on_edit = self.runner.graph_changed
        self.canvas.edit_message = self.runner.canvas_edit
        bar = w.HBox(
            [
                self.run_button,
                self.batch_label,
                self.batch_count,
                self.mode,
                self.run_selected_button,
                self.stop_button,
                self.clear_button,
            ],
            layout=w.Layout(align_items="center", flex_flow="row wrap"),
        )
        bar.add_class("wb-editor-bar")
        super().__init__([bar, self.canvas])

    # --- the controls ---

    @property
    def batch_limit(self) -> int:
        return self.workbench.queue.batch_limit

    @batch_limit.setter
    def batch_limit(self, limit: int) -> None:
        """The largest batch count (the queue's ``batch_limit``, 100 by default)."""
        self.workbench.queue.batch_limit = int(limit)
        self.batch_count.max = int(limit)

    def run(self, front: bool = False):
        """What ▷ Run does in the selected mode; returns the jobs queued (``run`` mode)."""
        if self.mode.value == "run" or front:
            return self.runner.run(self.batch_count.value, front=front)
        self.runner.start(self.mode.value)
        return None

    def run_selected(self):
        """Run only the branches of the nodes selected on the canvas."""
        return self.runner.run(self.batch_count.value, selected=list(self.canvas.selection))

    def save(self, path, **options):
        """Save the graph (with its positions, titles and seed policies) through ``wb.save``:
        a UI workflow ``.json``, an API prompt, or a PNG's metadata; returns the path."""
        return self.workbench.save(self.graph, path, **options)

    def stop(self) -> None:
        """✕: leave the auto mode and interrupt."""
        self.runner.stop()
        self.mode.value = "run"

    def _shortcut(self, content: dict) -> None:
        if content.get("selected"):
            self.run_selected()
        else:
            self.run(front=bool(content.get("front")))

    def _mode_changed(self, change) -> None:
        if change["new"] == "run":
            self.runner.disarm()

    def _queue_changed(self) -> None:
        if self.runner.auto_ended():
            self.mode.value = "run"

    # --- display ---

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        if isinstance(data, tuple):
            data, metadata = data
        else:
            metadata = None
        data = dict(data or {})
        data["image/svg+xml"] = graph_svg(self.canvas.snapshot.get("nodes", {}), self.canvas.defs)
        return (data, metadata) if metadata is not None else data

    def close(self) -> None:
        self.runner.disarm()
        self.canvas.close()
        super().close()
