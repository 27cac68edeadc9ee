"""The session's queue and history as a notebook shows them: what runs, waits and ran.

``SessionQueue`` is the engine's ``PromptQueue`` (``wb.queue``) with a readable
repr: the running job and its node, a job given up on whose node still runs
(``stopping``), the pending jobs, the auto-queue mode. ``RunHistory``
(``wb.history``) is a read-only sequence of the queue's history records
(``engine.history``), oldest first, shown as the last runs with their status,
when they finished, how long they took and what ran.
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence

from engine import Job, PromptQueue

SHOWN = 10  # runs a history shows


class SessionQueue(PromptQueue):
    """``PromptQueue`` with a text and an HTML repr (see the module docstring)."""

    def _rows(self) -> list[tuple[str, Job, str]]:
        """(state, job, what it is doing) for the running, stopping and pending jobs."""
        rows = []
        running = self.running()
        if running is not None:
            node = (
                self.executor.running_node
                if self.executor.running_prompt_id == running.id
                else None
            )
            rows.append(("running", running, _node_label(running, node) if node else ""))
        stopping = self.stopping()
        if stopping is not None:
            job, node = stopping
            rows.append(
                (
                    "stopping",
                    job,
                    f"{_node_label(job, node)} is still inside its call (interrupted)",
                )
            )
        rows.extend(("pending", job, "") for job in self.pending())
        return rows

    def __repr__(self) -> str:
        rows = self._rows()
        head = "Queue: idle" if not rows else f"Queue: {_counts(rows)}"
        if self.auto_mode != "disabled":
            head += f" (auto-queue: {self.auto_mode})"
        lines = [head]
        for state, job, doing in rows:
            lines.append(f"  #{job.number:<4} {state:<9} {doing}".rstrip())
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = self._rows()
        head = html.escape(repr(self).splitlines()[0])
        if not rows:
            return f"<div class='workbench-queue'><b>{head}</b></div>"
        body = "".join(
            f"<tr><td>#{job.number}</td><td>{state}</td><td>{html.escape(doing)}</td>"
            f"<td>{_clock(job.queued_at)}</td></tr>"
            for state, job, doing in rows
        )
        return (
            f"<div class='workbench-queue'><b>{head}</b><table><thead><tr><th>run</th>"
            "<th>state</th><th>node</th><th>queued</th></tr></thead>"
            f"<tbody>{body}</tbody></table></div>"
        )


class RunHistory(Sequence):
    """The queue's history records, oldest first; see the module docstring."""

    def __init__(self, queue: PromptQueue):
        self._queue = queue

    def __len__(self) -> int:
        return len(self._queue.history_store)

    def __getitem__(self, index):
        return self._queue.history()[index]

    def _last(self) -> list[dict]:
        return self._queue.history(SHOWN)

    def _head(self) -> str:
        total = len(self)
        shown = f" (the last {SHOWN})" if total > SHOWN else ""
        return f"History: {total} run{'s' if total != 1 else ''}{shown}"

    def __repr__(self) -> str:
        lines = [self._head()]
        for record in self._last():
            number, status, finished, seconds, what = _fields(record)
            lines.append(f"  {number:<5} {status:<11} {finished:<19} {seconds:>8}  {what}".rstrip())
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in _fields(record)) + "</tr>"
            for record in self._last()
        )
        table = (
            "<table><thead><tr><th>run</th><th>status</th><th>finished</th><th>time</th>"
            f"<th>what ran</th></tr></thead><tbody>{body}</tbody></table>"
            if body
            else ""
        )
        return f"<div class='workbench-history'><b>{html.escape(self._head())}</b>{table}</div>"


def _counts(rows) -> str:
    states = [state for state, _, _ in rows]
    parts = [f"{states.count(s)} {s}" for s in ("running", "stopping", "pending") if s in states]
    return ", ".join(parts)


def _node_label(job: Job, node: str) -> str:
    return f"{node} ({job.prompt.get(node, {}).get('class_type', '?')})"


def _clock(ms: int | None) -> str:
    """A millisecond timestamp as local time: ``HH:MM:SS``, with the date if not today."""
    if not isinstance(ms, (int, float)):
        return ""
    moment = time.localtime(ms / 1000)
    if time.strftime("%Y-%m-%d", moment) == time.strftime("%Y-%m-%d"):
        return time.strftime("%H:%M:%S", moment)
    return time.strftime("%Y-%m-%d %H:%M:%S", moment)


def _fields(record: dict) -> tuple[str, str, str, str, str]:
    """A history record as (run, status, finished, time, what ran) cells."""
    number = f"#{record.get('number', '?')}"
    status = str(record.get("status", "?"))
    started, finished = record.get("started_at"), record.get("finished_at")
    seconds = (
        f"{(finished - started) / 1000:.2f} s"
        if isinstance(started, (int, float)) and isinstance(finished, (int, float))
        else ""
    )
    what = f"{len(record.get('executed') or [])} ran, {len(record.get('cached') or [])} cached"
    error = record.get("error") or {}
    if isinstance(error, dict) and error.get("node_id"):
        word = "at" if status == "interrupted" else "error in"
        what += f", {word} {error['node_id']}"
    elif isinstance(error, dict) and error.get("message"):
        what += f", {error['message']}"
    return number, status, _clock(finished), seconds, what
