"""The local backend: node code runs in the run's own thread, as the engine always did.

A sync node runs inline in ``start``, which returns its outcome. An async
node's coroutines start on the run's event loop (one per run, made on first
use) and run up to their first wait; the node is then in flight, and its
coroutines advance whenever the loop runs: while another node's coroutine
starts, while an async hook is awaited (``await_now``), and in ``wait_any``.

State, per run (reset by ``begin``, mutated only here, from the run's thread):

- ``_waiting``: node id -> (type, results with their tasks, progress channel,
  blocker messages, tasks left) for async nodes in flight;
- ``_finished``: nodes in flight whose every task is done, in the order they
  finished (appended by the tasks' done callbacks, which run on the loop);
- ``_tasks``: every task not done; ``_new``: tasks the current call started;
- ``_blocked``: messages of the ExecutionBlockers the current call met.

Node code runs with the garbage collector on if it was on before the run
(``begin``): see ``enter_user_code``.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from .. import progress
from ..graph import ExecutionBlocker
from ..node_call import call_over_lists, lazy_needed, outputs_from_returns
from . import NodeCall, Outcome


class LocalBackend:
    """Runs node calls in the run's thread and on its event loop (see the module docstring)."""

    remote = False

    def __init__(self):
        self.run: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reset()

    def _reset(self) -> None:
        self._waiting: dict[str, list] = {}
        self._finished: list[str] = []
        self._tasks: set[asyncio.Task] = set()
        self._new: list[asyncio.Task] = []
        self._blocked: list[str] = []

    @property
    def busy(self) -> bool:
        """Whether async nodes are in flight."""
        return bool(self._waiting)

    def begin(self, run) -> None:
        self.run = run
        self.ex = run.ex
        self.collecting = run.collecting  # whether the garbage collector runs in node code
        self._reset()

    # --- calls ---

    def start(self, call: NodeCall) -> Outcome | None:
        node_id, node_type = call.node_id, call.type
        obj = self.instance(node_id, node_type.cls)
        inputs = call.inputs
        if call.lazy is not None:
            asked = call_over_lists(
                obj,
                "check_lazy_status",
                inputs,
                node_type.input_is_list,
                node_id=node_id,
                start_task=self.await_now,
            )
            needed = lazy_needed(asked, call.lazy)
            if needed:
                return Outcome(None, needed=needed)
        channel = progress.NodeProgress(node_id, self.run)
        token = progress._current.set(channel)
        self.enter_user_code(node_id)
        try:
            results = call_over_lists(
                obj,
                node_type.cls.FUNCTION,
                inputs,
                node_type.input_is_list,
                node_id=node_id,
                on_block=self.on_block,
                start_task=self.start_task,
            )
        finally:
            self.leave_user_code()
            progress._current.reset(token)
        if self._new:  # coroutines still running: the node is in flight
            self.wait_for(node_id, node_type, results, channel)
            return None
        if channel.held is not None:
            channel.flush()
        blocked = self._blocked
        if blocked:
            self._blocked = []
        outputs, ui, expanding = outputs_from_returns(results, node_type)
        return Outcome(outputs, ui, expanding, None, blocked or None)

    def instance(self, node_id: str, cls: type) -> Any:
        """The node's instance: kept across runs (the executor's ``objects``) while its class is."""
        objects = self.ex.objects
        cached = objects.get(node_id)
        if cached is not None and cached[1] is cls:
            return cached[2]
        obj = cls()
        objects[node_id] = (self.run.dynprompt.get_real_node_id(node_id), cls, obj)
        return obj

    def on_block(self, node_id: str, blocker: ExecutionBlocker) -> ExecutionBlocker:
        if blocker.message is not None:
            self._blocked.append(blocker.message)
        return blocker

    def fetch(self, outputs: list) -> list:
        return outputs

    # --- async nodes ---

    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
        return self._loop

    def start_task(self, coroutine) -> Any:
        """Start an async node's coroutine; its value if it finished at once, else its task."""
        loop = self.loop()
        task = loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        loop.run_until_complete(asyncio.sleep(0))  # let it run up to its first wait
        if task.done():
            return task.result()
        self._new.append(task)
        return task

    def await_now(self, coroutine) -> Any:
        """Run an async hook (check_lazy_status, IS_CHANGED) to completion."""
        return self.loop().run_until_complete(coroutine)

    def wait_for(self, node_id: str, node_type, results: list, channel) -> None:
        tasks, self._new = self._new, []
        blocked, self._blocked = self._blocked, []
        entry = self._waiting[node_id] = [node_type, results, channel, blocked, len(tasks)]

        def task_done(_task) -> None:
            entry[4] -= 1
            if entry[4] == 0:
                self._finished.append(node_id)

        for task in tasks:
            task.add_done_callback(task_done)

    def wait_any(self, timeout: float) -> list[tuple[str, Outcome | BaseException]]:
        if not self._finished and self._tasks:
            self.enter_user_code(None)
            try:
                self.loop().run_until_complete(
                    asyncio.wait(
                        set(self._tasks), timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                    )
                )
            finally:
                self.leave_user_code()
        reports: list[tuple[str, Outcome | BaseException]] = []
        finished, self._finished = self._finished, []
        for node_id in finished:
            node_type, results, channel, blocked, _ = self._waiting.pop(node_id)
            try:
                results = [r.result() if isinstance(r, asyncio.Task) else r for r in results]
            except Exception as exc:
                reports.append((node_id, exc))
                continue
            if channel.held is not None:
                channel.flush()
            outputs, ui, expanding = outputs_from_returns(results, node_type)
            reports.append((node_id, Outcome(outputs, ui, expanding, None, blocked or None)))
        return reports

    def cancel(self) -> None:
        """Cancel every task still running, and let them finish."""
        self._waiting.clear()
        self._finished.clear()
        if not self._tasks:
            return
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        self.loop().run_until_complete(asyncio.gather(*tasks, return_exceptions=True))

    def end(self) -> None:
        self.cancel()
        if self._loop is not None:
            self._loop.close()
            self._loop = None
        self.run = None

    # --- the garbage collector and forced interrupts ---

    def enter_user_code(self, node_id: str | None) -> None:
        """Node code runs with the garbage collector on (if it was on before the run).

        The collector then sees only what this node makes: everything older is
        frozen first (the executor unfreezes it when the run ends), so a large
        graph's bookkeeping is not scanned again at every collection.

        ``running_node`` names the node only while its code runs: a forced
        interrupt (the queue's watchdog) must never land in the engine's own
        bookkeeping, such as storing a finished node's outputs. Pair with
        ``leave_user_code`` in a ``finally`` (a context manager costs more per node).
        """
        self.ex.running_node = node_id
        if self.collecting:
            gc.freeze()
            gc.enable()

    def leave_user_code(self) -> None:
        self.ex.leave_user_code()
        if self.collecting:
            gc.disable()
