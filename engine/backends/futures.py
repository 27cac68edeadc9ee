"""A backend on any ``concurrent.futures.Executor``: node calls run as the pool's jobs.

``FuturesBackend(pool)`` (or ``Executor(registry, backend=pool)``). A ready
node's call is ``pool.submit(run_job, spec)``, with its input values in the
spec: a pool's jobs cannot read each other's results, so values go through
the kernel, and the cache holds them here. Independent branches run side by
side, as the pool has room. Nodes that declare ``RUNS_IN_KERNEL`` run in the
run's thread.

A ``ThreadPoolExecutor`` shares this process: progress, previews, a node's
own events and interrupt checks work as locally (its calls find their run in
``_HOSTS``), and a node that ignores an interrupt gets it raised in its
thread after ``grace`` seconds (``task.NodeState``). A process pool (or one
elsewhere, such as executorlib's) needs picklable node classes and its nodes
see neither the run's events nor its interrupt: on an interrupt, calls not
started are cancelled, and the results of the others are dropped.

State (from the run's thread): ``_futures``, future -> the ``NodeCall`` in
flight; ``kernel``, the ``LocalBackend`` of kernel nodes. Per process:
``_STATE`` (node instances, interrupt flags) and ``_HOSTS`` (job id -> the
progress host of a run in progress in this process).
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

from . import NodeCall, Outcome
from .local import LocalBackend
from .task import NodeState, Report, TaskSpec, run_call

_STATE = NodeState()
_HOSTS: dict[str, Any] = {}


def run_job(spec: TaskSpec) -> list | Report:
    """A node call as a pool's job."""
    host = _HOSTS.get(spec.job) or _Detached(spec)
    return run_call(_STATE, host, spec, ())


class _Host:
    """What a node's progress channel needs, in this process: the run itself."""

    def __init__(self, run):
        self.run = run

    def check_interrupted(self) -> None:
        self.run.check_interrupted()

    def display_node(self, node_id: str) -> str:
        return self.run.display_node(node_id)

    def emit_progress(self, data: dict) -> None:
        self.run.emit_progress(data)

    def emit_event(self, type: str, data: dict) -> None:
        self.run.emit_event(type, data)


class _Detached:
    """The progress host of a call in another process: nothing reaches the run."""

    def __init__(self, spec: TaskSpec):
        self.spec = spec

    def check_interrupted(self) -> None:
        _STATE.check(self.spec.job)

    def display_node(self, node_id: str) -> str:
        return self.spec.display

    def emit_progress(self, data: dict) -> None:
        pass

    def emit_event(self, type: str, data: dict) -> None:
        pass


def outcome_of(result: list | Report) -> Outcome:
    """What a call's result tells the scheduler (its values at hand)."""
    if type(result) is not Report:
        return Outcome(result, None)
    if result.needed:
        return Outcome(None, needed=set(result.needed))
    return Outcome(result.outputs, result.ui, result.expanding, None, result.blocked)


class FuturesBackend:
    """Runs node calls on a ``concurrent.futures.Executor`` (see the module docstring)."""

    remote = False

    def __init__(self, pool: concurrent.futures.Executor, grace: float | None = 2.0):
        self.pool = pool
        self.grace = grace
        self.kernel = LocalBackend()
        self.run: Any = None
        self._futures: dict[concurrent.futures.Future, NodeCall] = {}

    def begin(self, run) -> None:
        self.run = run
        self.kernel.begin(run)
        _HOSTS[run.prompt_id] = _Host(run)

    def end(self) -> None:
        self.cancel()
        self.kernel.end()
        _HOSTS.pop(self.run.prompt_id, None)
        self.run = None

    def await_now(self, coroutine) -> Any:
        return self.kernel.await_now(coroutine)

    def fetch(self, outputs: list) -> list:
        return outputs

    def start(self, call: NodeCall) -> Outcome | None:
        node_type = call.type
        if getattr(node_type.cls, "RUNS_IN_KERNEL", False):
            return self.kernel.start(call)
        run = self.run
        spec = TaskSpec.of(call, run, call.inputs, run.ex.registry.context)
        self._futures[self.pool.submit(run_job, spec)] = call
        return None

    def wait_any(self, timeout: float) -> list[tuple[str, Outcome | BaseException]]:
        reports = self.kernel.wait_any(min(timeout, 0.01)) if self.kernel.busy else []
        if not self._futures:
            return reports
        self.kernel.enter_user_code(None)  # the collector runs while we wait
        try:
            done, _ = concurrent.futures.wait(
                list(self._futures),
                timeout=0 if reports else timeout,
                return_when=concurrent.futures.FIRST_COMPLETED,
            )
        finally:
            self.kernel.leave_user_code()
        for future in done:
            call = self._futures.pop(future)
            try:
                result = future.result()
            except BaseException as exc:  # the node's, or the pool's (a broken process pool)
                reports.append((call.node_id, exc))
                continue
            reports.append((call.node_id, outcome_of(result)))
        return reports

    def cancel(self) -> None:
        if self._futures:
            for future in self._futures:
                future.cancel()
            self._futures.clear()
            _STATE.interrupt(self.run.prompt_id, self.grace)  # the calls running here
        self.kernel.cancel()
