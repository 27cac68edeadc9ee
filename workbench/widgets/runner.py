"""What the Run controls do: Run with a batch count, partial runs, Run (On Change),
Run (Instant), interrupt, clear; for one graph of one session.

Runs go through ``Workbench.run`` (seed policies resolved once per job, the next
seeds written back into the graph, results kept for ``wb.value``), except a run
queued at the front (``PromptQueue.submit(front=True)``, which ``Workbench.run``
does not offer). The prompt is validated first: an invalid one queues nothing
and its errors are shown on the nodes.

The auto modes use the queue's auto-queue (``engine.autoqueue``) with a graph
callable that resolves the seed policies per run and writes the next seeds
back. Run (On Change) queues a run when the graph's *execution projection*
changes: ``to_prompt()`` and the seed policies, without the values of seeds
that a policy other than ``fixed`` owns (their write-back after a run must not
queue another run), and never positions, sizes, titles or colours.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from engine import validate_prompt
from engine.seeds import plan_seeds, with_seeds

from ..graph import Graph, terminal_nodes

MODES = ("run", "change", "instant")
CHANGE_DEBOUNCE = 0.03  # seconds


class Runner:
    def __init__(self, workbench, graph: Graph, show_errors: Callable[[dict | None], None]):
        self.wb = workbench
        self.graph = graph
        self.queue = workbench.queue
        self._show_errors = show_errors
        self.armed: str | None = None  # the auto mode we started ("change" / "instant")
        self._projection: str | None = None
        self._editing = False  # inside canvas_edit(): changes wait for its end
        self._edited = False

    # --- running ---

    def targets(self, prompt: dict, selected: list[str] | None = None) -> list[str] | None:
        """The partial-execution targets: ``selected`` nodes, else the graph's output nodes
        (None), else its terminal nodes."""
        if selected:
            return [n for n in selected if n in prompt]
        for node in prompt.values():
            node_type = self.wb.registry.get(node.get("class_type"))
            if node_type is not None and node_type.is_output:
                return None
        return terminal_nodes(prompt) or None

    def validate(self, prompt: dict, targets: list[str] | None) -> bool:
        """Show the prompt's validation errors (or clear them); True if it may run."""
        result = validate_prompt(prompt, self.wb.registry, targets)
        if result.ok:
            self._show_errors(None)
            return True
        self._show_errors(errors_message(result.error, result.node_errors))
        return False

    def run(self, number: int = 1, front: bool = False, selected: list[str] | None = None):
        """Queue ``number`` runs (of the ``selected`` nodes' branches only, if given);
        returns the jobs, or None if nothing was queued (invalid, or nothing selected)."""
        prompt = self.graph.to_prompt()
        if selected is not None and not [n for n in selected if n in prompt]:
            self._show_errors(
                {"type": "errors", "message": "Select the nodes to run first.", "nodes": {}}
            )
            return None
        targets = self.targets(prompt, selected)
        if not self.validate(prompt, targets):
            return None
        if not front:
            jobs = self.wb.run(
                self.graph, outputs=targets, number=number, wait=False, progress=False
            )
            return jobs if isinstance(jobs, list) else [jobs]
        control = self.graph.seed_control()
        jobs = self.queue.submit(
            prompt, outputs=targets, number=number, front=True, seed_control=control
        )
        self._write_back(jobs[-1].next_seeds)
        return jobs

    def _write_back(self, seeds: dict) -> None:
        for node_id, values in seeds.items():
            if node_id in self.graph:
                self.graph.node(node_id).set(**values)

    def _auto_prompt(self) -> dict:
        """The prompt of one auto-queued run: seeds resolved, the next ones written back."""
        prompt = self.graph.to_prompt()
        control = self.graph.seed_control()
        if control:
            plan = plan_seeds(prompt, control, self.wb.registry, 1)
            prompt = with_seeds(prompt, plan.used[0])
            self._write_back(plan.after[0])
        return prompt

    # --- modes ---

    def start(self, mode: str, number: int = 1) -> None:
        """Run in ``mode``: ``run`` queues ``number`` runs; ``change`` queues one and then one
        per change; ``instant`` queues one whenever the queue empties."""
        if mode not in MODES:
            raise ValueError(f"run mode must be one of {', '.join(MODES)}, not {mode!r}")
        if mode == "run":
            self.disarm()
            self.run(number)
            return
        prompt = self.graph.to_prompt()
        targets = self.targets(prompt)
        if not self.validate(prompt, targets):
            return
        self.armed = mode
        self._projection = self.projection()
        if mode == "change":
            # A short debounce for code edits: a burst of them within 30 ms makes one
            # run. A canvas message is one change: its run is queued when it ends.
            self.queue.auto_queue("change", self._auto_prompt, targets, debounce=CHANGE_DEBOUNCE)
            self.run(1)
        else:
            self.queue.auto_queue("instant", self._auto_prompt, targets)

    def disarm(self) -> None:
        if self.armed is not None:
            self.armed = None
            self.queue.auto.stop()

    def stop(self) -> None:
        """✕: leave the auto mode and interrupt the running job."""
        self.disarm()
        self.queue.interrupt()

    def clear(self) -> None:
        self.armed = None
        self.queue.clear()

    def auto_ended(self) -> bool:
        """True once if the auto-queue left our mode by itself (an error, a cancelled run,
        an instant run that changed nothing)."""
        if self.armed is not None and self.queue.auto_mode != self.armed:
            self.armed = None
            return True
        return False

    def graph_changed(self, op: dict) -> None:
        """An edit op of the graph: in Run (On Change), queue a run if it changed what runs.
        Code edits are debounced (a burst of them makes one run); the ops of one canvas
        message are one change, whose run is queued when the message ends (``canvas_edit``)."""
        if self.armed != "change" or op.get("op") == "set_ui" and "mode" not in op.get("ui", {}):
            return
        if self._editing:
            self._edited = True
            return
        self._queue_if_changed()

    @contextmanager
    def canvas_edit(self) -> Iterator[None]:
        """The ops applied inside are one canvas action: its run (if what runs changed) is
        queued at once at the end, without the debounce: nothing else belongs to it."""
        self._editing, self._edited = True, False
        try:
            yield
        finally:
            edited, self._editing, self._edited = self._edited, False, False
            if edited and self.armed == "change":
                self._queue_if_changed(debounce=0)

    def _queue_if_changed(self, debounce: float | None = None) -> None:
        projection = self.projection()
        if projection != self._projection:
            self._projection = projection
            prompt = self.graph.to_prompt()
            if self.validate(prompt, self.targets(prompt)):
                self.queue.changed(debounce=debounce)

    def projection(self) -> str:
        """What a run would execute, as text (see the module docstring)."""
        prompt = self.graph.to_prompt()
        control = self.graph.seed_control()
        for node_id, policies in control.items():
            owned = [name for name, mode in policies.items() if mode != "fixed"]
            if owned and node_id in prompt:
                inputs = {k: v for k, v in prompt[node_id]["inputs"].items() if k not in owned}
                prompt[node_id] = {**prompt[node_id], "inputs": inputs}
        try:
            return json.dumps([prompt, control], sort_keys=True, default=_identity)
        except (TypeError, ValueError):  # keys that do not sort: compare in insertion order
            return json.dumps([prompt, control], default=_identity)


def _identity(value) -> str:
    # A kernel value (a tensor constant) changes the projection when it is replaced.
    return f"<{type(value).__name__} {id(value)}>"


def errors_message(error: dict | None, node_errors: dict | None) -> dict:
    """An ``errors`` message from a validation result: per node, its messages and inputs."""
    nodes = {}
    for node_id, entry in (node_errors or {}).items():
        problems = entry.get("errors", [])
        nodes[node_id] = {
            "message": "; ".join(
                f"{p.get('message', '')}: {p.get('details', '')}".rstrip(": ") for p in problems
            ),
            "inputs": sorted(
                {
                    p["extra_info"]["input_name"]
                    for p in problems
                    if isinstance(p.get("extra_info"), dict) and "input_name" in p["extra_info"]
                }
            ),
        }
    message = (error or {}).get("message", "Prompt is invalid")
    details = (error or {}).get("details")
    if details:
        message = f"{message}: {details}"
    return {"type": "errors", "message": message, "nodes": nodes}


__all__ = ["MODES", "Runner", "errors_message"]
