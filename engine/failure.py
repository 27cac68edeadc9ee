"""How a run that failed or was interrupted ends: what it blames, counts and reports."""

from __future__ import annotations

import time
import traceback
from typing import TYPE_CHECKING

from .errors import (
    OOM_TIP,
    DependencyCycleError,
    RemoteNodeError,
    full_name,
    is_oom,
    summarize,
)

if TYPE_CHECKING:
    from .executor import ExecutionResult
    from .run import Run


def blame_cycle(run: Run) -> str | None:
    """A dynamic cycle is blamed on the first node of it the user can see (static
    cycles were rejected by validation, so one node of it came from an expansion)."""
    cycle = run.list.nodes_in_cycle()
    for node_id in cycle:
        display = run.dynprompt.get_display_node_id(node_id)
        if display != node_id:
            return display
    return cycle[0] if cycle else None


def fail(
    run: Run, result: ExecutionResult, status: str, node_id: str | None, exc: BaseException | None
) -> None:
    """End ``run`` as ``status`` ("error" or "interrupted"), blaming ``node_id``: stop what is
    in flight, count what ran, fill ``result.error`` and emit the run's last outcome event."""
    result.status = status
    run.backend.cancel()  # nothing still in flight may finish into the cache
    real_id = run.dynprompt.get_real_node_id(node_id) if node_id is not None else None
    node_type = None
    if node_id is not None and run.dynprompt.has_node(node_id):
        node_type = run.dynprompt.get_node(node_id).get("class_type")
    if status == "error":
        # A node whose code started and failed counts as run (as in ComfyUI): the one
        # that raised, async siblings still running, a node whose expansion failed.
        # One stopped by an interrupt does not: it did not get to run.
        now = time.perf_counter()
        for started_id, start in run.started.items():
            run.executed.add(started_id)
            run.timings.setdefault(started_id, now - start)
    run.started.clear()
    if status == "interrupted":
        data = {"node_id": real_id, "node_type": node_type, "executed": sorted(run.executed)}
        result.error = data
        run.ex.events.emit("execution_interrupted", run.prompt_id, **data)
        return
    remote = exc if isinstance(exc, RemoteNodeError) else None
    message = str(exc)
    if is_oom(exc) or (remote is not None and remote.oom):
        message = f"{message}\n{OOM_TIP}"
        run.values.clear()
        run.ex._free()
    cycle = isinstance(exc, DependencyCycleError)
    inputs = {}
    if remote is not None:
        inputs = remote.inputs  # described where the node ran
    elif node_id is not None and node_id in run.info and not cycle:
        try:
            inputs = {
                k: [summarize(v) for v in (vs if isinstance(vs, list) else [vs])]
                for k, vs in run.input_values(run.info[node_id]).items()
            }
        except Exception:
            inputs = {}
    if cycle:
        exception_type, lines = "graph.DependencyCycleError", []
    elif remote is not None:
        exception_type, lines = remote.exception_type, remote.traceback
    else:
        exception_type, lines = full_name(type(exc)), traceback.format_tb(exc.__traceback__)
    result.error = {
        "node_id": node_id if cycle else real_id,
        "node_type": node_type,
        "exception_type": exception_type,
        "exception_message": message,
        "traceback": lines,
        "current_inputs": inputs,
    }
    run.ex.events.emit(
        "execution_error",
        run.prompt_id,
        **result.error,
        executed=sorted(run.executed),
        current_outputs=sorted(run.values),
    )
