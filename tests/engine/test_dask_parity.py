"""Other backends against the local one: the engine's core cases give the same answers.

Each case is a list of runs (a prompt, or a prompt and its partial-execution
targets) taken from ComfyUI's execution tests (``test_execution.py``,
``test_async_nodes.py``). They run in order on a local executor and on one
whose nodes run elsewhere, under classic and none caching: on a 2-worker
LocalCluster (the Dask backend), and on a pool of 2 threads (the
``concurrent.futures`` backend).
Every run must give the same status, the same executed, cached and reused
nodes, the same ui (file names aside: they count up) and the same error; after
the last run, the cache must hold the same values. Random images (``NOISE``)
are left out, so that values compare.
"""

from __future__ import annotations

import concurrent.futures

import pytest
import torch

from engine import ExecutionBlocker, Executor
from engine.backends.dask import DaskBackend
from engine.backends.futures import FuturesBackend

from . import stubs
from .stubs import average, image, lazy_mix, link, make_list, mask, node, preview, save, sleep


def mix(mask_value: float = 0.5, size: int = 64) -> dict:
    return {
        "black": image("BLACK"),
        "white": image("WHITE", size=size),
        "mask": mask(mask_value),
        "mix": lazy_mix("black", "white", "mask"),
        "save": save("mix"),
    }


def is_changed(should_change: bool) -> dict:
    return {
        "1": save("2"),
        "2": node("TestCustomIsChanged", image=link("3"), should_change=should_change),
        "3": image("BLACK"),
    }


def for_loop(remaining: int) -> dict:
    return {
        "black": image("BLACK"),
        "white": image("WHITE"),
        "is_changed": node("TestCustomIsChanged", should_change=True, image=link("white")),
        "open": node("TestForLoopOpen", remaining=remaining, initial_value1=link("is_changed")),
        "avg": average("black", link("open", 2)),
        "close": node("TestForLoopClose", flow_control=link("open"), initial_value1=link("avg")),
        "save": save("close"),
    }


TWO_OUTPUTS = {
    "input1": image("BLACK"),
    "input2": image("WHITE"),
    "output1": save("input1"),
    "output2": save("input2"),
}

LAZY_BRANCHES = {
    "input1": image("BLACK"),
    "input2": image("WHITE"),
    "input3": image("BLACK", size=32),
    "mask1": mask(0.0),
    "mask2": mask(0.5),
    "mix1": lazy_mix("input1", "input2", "mask1"),
    "mix2": lazy_mix("input2", "input3", "mask2"),
    "output1": save("mix1"),
    "output2": save("mix2"),
}

BLOCK_LIST = {
    "image1": image("BLACK"),
    "image2": image("WHITE"),
    "image3": image("BLACK"),
    "images": make_list(link("image1"), link("image2"), link("image3")),
    "int1": node("StubInt", value=1),
    "int2": node("StubInt", value=2),
    "int3": node("StubInt", value=3),
    "ints": make_list(link("int1"), link("int2"), link("int3")),
    "compare": node("TestIntConditions", a=link("ints"), b=2, operation="=="),
    "blocker": node(
        "TestExecutionBlocker", input=link("images"), block=link("compare"), verbose=True
    ),
    "list_out": make_list(link("blocker")),
    "out": preview("list_out"),
}

CASES: dict[str, list] = {
    "lazy_input": [mix(0.0)],
    "full_cache": [mix(0.5), mix(0.5)],
    "partial_cache": [mix(0.5), mix(0.4)],
    "error_then_fixed": [mix(0.5, size=32), mix(0.5)],
    "custom_is_changed": [is_changed(False), is_changed(False), is_changed(True)],
    "undeclared_inputs": [
        {
            "i1": image("BLACK"),
            "i2": image("WHITE"),
            "avg": average("i1", "i2", "i1"),
            "save": save("avg"),
        }
    ],
    "for_loop": [for_loop(1), for_loop(3)],
    "dynamic_cycle": [
        {
            "a": image("BLACK"),
            "b": image("WHITE"),
            "cycle": node("TestDynamicDependencyCycle", input1=link("a"), input2=link("b")),
            "save": save("cycle"),
        }
    ],
    "mixed_expansion_returns": [
        {
            "values": make_list(0.1, 0.2, 0.3),
            "mixed": node("TestMixedExpansionReturns", input1=link("values")),
            "out_dynamic": save(link("mixed", 0)),
            "out_literal": save(link("mixed", 1)),
        }
    ],
    "mixed_lazy_results": [
        {
            "values": make_list(0.0, 0.5, 1.0),
            "mask": mask(link("values")),
            "black": image("BLACK"),
            "white": image("WHITE"),
            "mix": lazy_mix("black", "white", "mask"),
            "rebatch": node("RebatchImages", images=link("mix"), batch_size=3),
            "save": save("rebatch"),
        }
    ],
    "output_reuse": [{"black": image("BLACK"), "out1": save("black"), "out2": save("black")}],
    "block_list_output": [BLOCK_LIST, BLOCK_LIST],
    "partial_execution": [(TWO_OUTPUTS, ["output1"]), (TWO_OUTPUTS, None)],
    "partial_execution_lazy": [(LAZY_BRANCHES, ["output1"]), (LAZY_BRANCHES, ["output2"])],
    "partial_execution_dependencies": [
        (
            {
                "input1": image("BLACK"),
                "out1": node("TestOutputNodeWithSocketOutput", image=link("input1"), value=1.5),
                "out2": node("TestOutputNodeWithSocketOutput", image=link("out1"), value=2.0),
                "save1": save("out1"),
                "save2": save("out2"),
            },
            ["save2"],
        )
    ],
    "async_sleeps": [
        {
            "image": image("BLACK"),
            "sleep1": sleep("image", 0.05),
            "sleep2": sleep("image", 0.06),
            "avg": average("sleep1", "sleep2"),
            "out": preview("avg"),
        }
    ],
    "async_expansion": [
        {
            "image1": image("BLACK"),
            "image2": image("WHITE"),
            "parallel": node(
                "TestParallelSleep",
                image1=link("image1"),
                image2=link("image2"),
                image3=link("image2"),
                sleep1=0.05,
                sleep2=0.06,
                sleep3=0.07,
            ),
            "save": save("parallel"),
        }
    ],
    "async_identical_nodes": [  # identical async nodes run side by side, sync ones are reused
        {
            "image1": image("BLACK"),
            "image2": image("WHITE"),
            "dynamic": node(
                "TestDynamicAsyncGeneration",
                image1=link("image1"),
                image2=link("image2"),
                num_async_nodes=4,
                sleep_duration=0.05,
            ),
            "out": save("dynamic"),
        }
    ],
    "async_lazy": [
        {
            "black": image("BLACK"),
            "white": image("WHITE"),
            "sleep1": sleep("black", 0.05),
            "sleep2": sleep("white", 0.05),
            "mask": mask(0.0),
            "mix": lazy_mix("sleep1", "sleep2", "mask"),
            "out": save("mix"),
        }
    ],
    "async_error_then_recovery": [
        {
            "image": image("BLACK"),
            "fail": node("TestAsyncError", value=link("image"), error_after=0.05),
            "out": preview("fail"),
        },
        {"image": image("BLACK"), "sleep": sleep("image", 0.05), "out": preview("sleep")},
    ],
    "async_check_lazy_status": [
        {
            "check": node("TestAsyncLazyCheck", input1="a", input2="b", condition=True),
            "out": preview("check"),
        }
    ],
}


@pytest.fixture(params=["dask", "threads"])
def backend(request):
    if request.param == "dask":
        backend = DaskBackend(request.getfixturevalue("dask_client"), grace=0.5)
        yield backend
        backend.close()
    else:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            yield FuturesBackend(pool, grace=0.5)


@pytest.fixture(params=["classic", "none"])
def executors(request, backend):
    local = Executor(stubs.make_registry(), cache=request.param)
    remote = Executor(stubs.make_registry(), cache=request.param, backend=backend)
    return local, remote


def steps(case: str):
    for step in CASES[case]:
        yield step if isinstance(step, tuple) else (step, None)


def ui_without_names(outputs: dict) -> dict:
    return {
        node_id: {
            key: [{k: v for k, v in item.items() if k != "filename"} for item in items]
            for key, items in ui.items()
        }
        for node_id, ui in outputs.items()
    }


def same(a, b) -> bool:
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, ExecutionBlocker) and isinstance(b, ExecutionBlocker):
        return a.message == b.message
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@pytest.mark.parametrize("case", list(CASES))
def test_same_as_local(executors, case):
    local, remote = executors
    for prompt, outputs in steps(case):
        expected = local.execute(prompt, outputs)
        got = remote.execute(prompt, outputs)
        assert got.status == expected.status, (got.error, expected.error)
        assert got.executed == expected.executed
        assert got.cached == expected.cached
        assert got.reused == expected.reused
        assert ui_without_names(got.outputs) == ui_without_names(expected.outputs)
        if expected.error is None:
            assert got.error is None
        else:
            for field in ("node_id", "node_type", "exception_type", "exception_message"):
                assert got.error.get(field) == expected.error.get(field), field
    for node_id in prompt:
        assert same(remote.get_output(node_id), local.get_output(node_id)), node_id
