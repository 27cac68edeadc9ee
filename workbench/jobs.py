"""Runs in the background: ``wb.run(g, wait=False)`` returns a ``Job``; waiting for runs.

A ``Job`` wraps the engine's queue job (``engine.Job``, a future of the raw
``ExecutionResult``) for the notebook: shown in a cell it displays the run's
live progress, then its final state; ``job.result()`` waits and returns the
``RunResult``; ``job.cancel()`` (or ``wb.cancel(job)``) removes it if pending
and interrupts it if running.

Stopping while waiting. Jupyter's stop button raises ``KeyboardInterrupt`` in
the cell, here while it waits in ``wait_for``. The jobs waited for are then
stopped (pending ones removed, the running one interrupted) and waited for
again: the queue finishes an interrupted job within its ``grace`` plus
``engine.queue.SETTLE`` seconds, giving up on a node stuck in a native call.
Another stop while stopping is absorbed, so the cell returns results, never a
``KeyboardInterrupt`` traceback.
"""

from __future__ import annotations

import concurrent.futures
import html
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from engine import Job as EngineJob

if TYPE_CHECKING:
    from .progress_display import ProgressDisplay
    from .results import RunResult


def wait_for(jobs: Sequence[EngineJob], timeout: float | None = None) -> bool:
    """Wait until every job is done; False if ``timeout`` seconds pass first.

    On ``KeyboardInterrupt`` stop them all and wait for them (see the module docstring).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        for job in jobs:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            concurrent.futures.wait([job], remaining)
        return all(job.done() for job in jobs)
    except KeyboardInterrupt:
        pass
    while True:
        try:
            for job in jobs:
                job.cancel()  # pending: removed; running: interrupted; done: nothing
            concurrent.futures.wait(jobs)
            return True
        except KeyboardInterrupt:
            continue


class Job:
    """A run queued by ``wb.run(..., wait=False)``; see the module docstring."""

    def __init__(
        self,
        job: EngineJob,
        result_of: Callable[[EngineJob], RunResult],
        display: ProgressDisplay | None,
    ):
        self.engine_job = job  # the queue's job (engine.Job)
        self._result_of = result_of
        self._display = display

    @property
    def id(self) -> str:
        return self.engine_job.id

    @property
    def number(self) -> int:
        """The queue's submission number (``#n`` in displays and the history)."""
        return self.engine_job.number

    @property
    def status(self) -> str:
        """``pending``, ``running``, ``success``, ``error``, ``interrupted`` or ``cancelled``."""
        return self.engine_job.status

    @property
    def seeds(self) -> dict[str, dict]:
        return self.engine_job.seeds

    def done(self) -> bool:
        return self.engine_job.done()

    def result(self, timeout: float | None = None) -> RunResult:
        """Wait for the run and return its ``RunResult`` (also for a job cancelled while pending).

        Jupyter's stop button while waiting interrupts this job and returns its
        result. Raises ``TimeoutError`` if ``timeout`` seconds pass first (the job
        goes on).
        """
        if not wait_for([self.engine_job], timeout):
            raise TimeoutError(f"job #{self.number} is still {self.status} after {timeout} s")
        result = self._result_of(self.engine_job)
        if self._display is not None:  # final before this returns (the cell waiting may end)
            self._display.finished(result)
        return result

    def cancel(self) -> bool:
        """Remove this job if pending, interrupt it if running; False if it had already ended."""
        return self.engine_job.cancel()

    def _ipython_display_(self) -> None:
        if self._display is not None:
            self._display.show()
        else:
            from IPython.display import display

            text = repr(self)
            display(
                {"text/plain": text, "text/html": f"<code>{html.escape(text)}</code>"}, raw=True
            )

    def __repr__(self) -> str:
        if self.done():
            state = self._result_of(self.engine_job).summary
        elif self._display is not None:
            state = "; ".join(reversed(self._display.text().splitlines()))  # then what it waits for
        else:
            state = self.status
        return f"<Job #{self.number} {state}>"
