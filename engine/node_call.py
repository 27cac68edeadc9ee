"""Calling a node: mapping its function over input lists, and merging what it returns.

Every input value reaches a node as a list (a producer may output a list of
values, ``OUTPUT_IS_LIST``). A node without ``INPUT_IS_LIST`` is called once
per element of its longest input list, shorter lists repeating their last
element; a node with it is called once with the whole lists. The results are
merged per output slot into lists again.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from .graph import ExecutionBlocker, GraphBuilder
from .registry import NodeType


def lazy_needed(asked: list, lazy) -> set[str]:
    """The lazy inputs ``check_lazy_status`` asked for (its answers over list calls,
    ``asked``), of those in ``lazy``: names only, whatever else it returned."""
    return {n for r in asked if isinstance(r, list) for n in r if isinstance(n, str) and n in lazy}


def call_over_lists(
    obj: Any,
    function_name: str,
    inputs: dict[str, list],
    input_is_list: bool,
    *,
    node_id: str,
    start_task: Callable[[Any], Any],
    on_block: Callable[[str, ExecutionBlocker], Any] | None = None,
    filter_kwargs: bool = False,
) -> list:
    """Call ``obj.<function_name>`` per list element; one result per call.

    An ``ExecutionBlocker`` among a call's inputs skips the call: its result is
    the blocker. A coroutine result is handed to ``start_task``, which returns
    what stands in the results for it (the value if it finished at once, or its
    task). Before each call the ``GraphBuilder`` prefix is set, so the ids of
    expanded nodes are deterministic.
    """
    function = getattr(obj, function_name)
    if filter_kwargs:
        inputs = _accepted(function, inputs)
    if input_is_list:
        calls = [(0, inputs)]
    else:
        length = max(map(len, inputs.values()), default=0)
        if length == 0 and inputs:
            return []  # an empty input list: nothing to map over
        if length <= 1:
            calls = [(0, {k: v[0] for k, v in inputs.items()})]
        else:
            calls = [
                (i, {k: v[i] if i < len(v) else v[-1] for k, v in inputs.items()})
                for i in range(length)
            ]

    results = []
    for index, kwargs in calls:
        blocker = _blocker(kwargs, input_is_list)
        if blocker is not None:
            results.append(on_block(node_id, blocker) if on_block else blocker)
            continue
        GraphBuilder.set_default_prefix(node_id, index, 0)
        result = function(**kwargs)
        if type(result) is not tuple and inspect.isawaitable(result):
            result = start_task(result)
        results.append(result)
    return results


def _blocker(kwargs: dict, input_is_list: bool) -> ExecutionBlocker | None:
    for value in kwargs.values():
        if isinstance(value, ExecutionBlocker):
            return value
        if input_is_list and isinstance(value, list):
            for element in value:
                if isinstance(element, ExecutionBlocker):
                    return element
    return None


def _accepted(function: Callable, inputs: dict) -> dict:
    """Only the keyword arguments ``function`` takes (hooks often take fewer than all inputs)."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return inputs
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return inputs
    return {k: v for k, v in inputs.items() if k in parameters}


def outputs_from_returns(results: list, node_type: NodeType) -> tuple[list, dict, bool]:
    """(outputs per slot, or subgraph results if expanding; merged ui; expanding?)."""
    if len(results) == 1 and type(results[0]) is tuple and not any(node_type.output_is_list):
        return [[value] for value in results[0]], {}, False  # the common case, merged
    values, uis, subgraphs = [], [], []
    expanding = False
    width = len(node_type.return_types)
    for result in results:
        if isinstance(result, dict):
            if "ui" in result and result["ui"]:
                uis.append(result["ui"])
            if "expand" in result:
                expanding = True
                subgraphs.append((result["expand"], _as_tuple(result.get("result"), width)))
            elif "result" in result:
                value = _as_tuple(result["result"], width)
                values.append(value)
                subgraphs.append((None, value))
        else:
            value = _as_tuple(result, width)
            values.append(value)
            subgraphs.append((None, value))
    ui: dict = {}
    for part in uis:
        for key, items in part.items():
            ui.setdefault(key, [])
            ui[key].extend(items if isinstance(items, (list, tuple)) else [items])
    if expanding:
        return subgraphs, ui, True
    return merge_outputs(values, node_type), ui, False


def _as_tuple(value: Any, width: int) -> tuple:
    if isinstance(value, ExecutionBlocker):
        return (value,) * width
    if value is None:
        return ()
    if not isinstance(value, (tuple, list)):
        raise TypeError(f"a node must return a tuple of its outputs, not {type(value).__name__}")
    return tuple(value)


def merge_outputs(results: list[tuple], node_type: NodeType) -> list[list]:
    """Per output slot, the list of values over all calls (``OUTPUT_IS_LIST`` slots flattened)."""
    if not results:
        return []
    width = len(results[0])
    merged = []
    for slot in range(width):
        is_list = slot < len(node_type.output_is_list) and node_type.output_is_list[slot]
        values: list = []
        for result in results:
            value = result[slot] if slot < len(result) else None
            if is_list and not isinstance(value, ExecutionBlocker):
                values.extend(value)
            else:
                values.append(value)
        merged.append(values)
    return merged
