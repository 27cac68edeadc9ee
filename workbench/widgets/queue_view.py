"""The queue panel's data: deltas of the pending and running jobs, and the last runs.

The canvas never gets the whole queue again: ``QueueView.delta()`` compares the
queue now with what it last sent and returns only what changed (jobs added,
with the job before each in run order; jobs whose status changed; jobs gone).
"""

from __future__ import annotations

from collections.abc import Callable

from engine import PromptQueue
from engine.graph import is_link

HISTORY_SHOWN = 20


class QueueView:
    def __init__(self, queue: PromptQueue):
        self.queue = queue
        self._shown: dict[str, str] = {}  # job id -> status, as the canvas has it
        self._history_shown: list[str] = []

    def delta(self) -> dict | None:
        """A ``queue`` message with what changed since the last call, or None."""
        # Pending first: a job that starts between the two looks is then seen in both
        # (and shown once, running); looking at the running job first missed it in both.
        pending = self.queue.pending()
        running = self.queue.running()
        jobs = ([running] if running is not None else []) + [j for j in pending if j is not running]
        added, changed = [], []
        now: dict[str, str] = {}
        previous = None
        for job in jobs:
            status = job.status if job.status in ("pending", "running") else "running"
            now[job.id] = status
            if job.id not in self._shown:
                added.append(
                    {"id": job.id, "number": job.number, "status": status, "after": previous}
                )
            elif self._shown[job.id] != status:
                changed.append({"id": job.id, "number": job.number, "status": status})
            previous = job.id
        removed = [job_id for job_id in self._shown if job_id not in now]
        self._shown = now
        if not (added or changed or removed):
            return None
        return {"type": "queue", "added": added, "changed": changed, "removed": removed}

    def full(self) -> dict:
        """A ``queue`` message of the whole queue (for a new view)."""
        self._shown = {}
        return self.delta() or {"type": "queue", "added": [], "changed": [], "removed": []}

    def history(
        self, graph_control: Callable[[], dict] | None = None, full: bool = False
    ) -> dict | None:
        """A ``history`` message of the runs finished since the last call (or the last
        ``HISTORY_SHOWN`` if ``full``). ``graph_control()`` gives the graph's seed policies;
        it is called only when there is something to send (it reads every node)."""
        records = self.queue.history(HISTORY_SHOWN)
        known = set() if full else set(self._history_shown)
        new = [r for r in records if r.get("prompt_id") not in known]
        self._history_shown = [r.get("prompt_id") for r in records]
        if not new and not full:
            return None
        control = graph_control() if graph_control is not None and new else {}
        return {
            "type": "history",
            "full": full,
            "added": [_entry(r, control) for r in new],
        }


def _entry(record: dict, control: dict) -> dict:
    started, finished = record.get("started_at"), record.get("finished_at")
    seeds = record.get("seeds") or _seeds_in(record.get("prompt") or {}, control)
    return {
        "id": record.get("prompt_id"),
        "number": record.get("number"),
        "status": record.get("status"),
        "ms": (finished - started) if started and finished else None,
        "seeds": seeds,
        "executed": len(record.get("executed") or []),
        "cached": len(record.get("cached") or []),
    }


def _seeds_in(prompt: dict, control: dict) -> dict:
    """The values of the graph's controlled inputs in a run's prompt (a run queued by the
    auto-queue records no seeds of its own)."""
    seeds = {}
    for node_id, policies in control.items():
        inputs = (prompt.get(node_id) or {}).get("inputs") or {}
        values = {n: inputs[n] for n in policies if n in inputs and not is_link(inputs[n])}
        if values:
            seeds[node_id] = values
    return seeds
