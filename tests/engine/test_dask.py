"""The Dask backend's own behaviour: where code runs, what moves, interrupts, faults, progress.

The nodes are in ``dask_nodes`` (workers import them by name); the cluster is
the session's 2-worker LocalCluster (``dask_client``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid

import pytest
import torch
from distributed import Future

from engine import Executor, node
from engine.backends import NodeCall, RemoteSlot
from engine.backends.dask import DaskBackend
from engine.backends.worker import running_nodes

from . import dask_nodes
from .dask_nodes import in_background, n, run, wait_until
from .stubs import link


@pytest.fixture
def backend(dask_client):
    backend = DaskBackend(dask_client, grace=0.5)
    yield backend
    backend.close()


@pytest.fixture
def ex(backend) -> Executor:
    return Executor(dask_nodes.make_registry(), backend=backend)


def chain(length: int = 3) -> dict:
    prompt = {"t0": n("Tensor", value=1.0, size=4)}
    for i in range(1, length):
        prompt[f"t{i}"] = n("Scale", tensor=link(f"t{i - 1}"), factor=2.0)
    return prompt


# --- where nodes run, what moves ------------------------------------------------------------


def test_dask_is_imported_only_when_chosen():
    code = (
        "import sys, engine, workbench\n"
        "from engine import Executor, NodeRegistry\n"
        "Executor(NodeRegistry()).execute({})\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_value_that_cannot_travel_is_a_clear_error(ex):
    r = run(ex, {"one": n("Add", a=1, b=2), "lock": n("Pid", tag=0, after=threading.Lock())})
    assert r.status == "error"
    assert r.error["node_id"] == "lock"
    message = r.error["exception_message"]
    assert "node lock (Pid) cannot be sent to the Dask workers" in message
    assert "cannot pickle '_thread.lock'" in message


def test_an_unpicklable_registry_context_is_a_clear_error(backend):
    import contextlib

    lock = threading.Lock()
    registry = dask_nodes.make_registry()
    registry.context = lambda: contextlib.nullcontext(lock)  # a lock cannot travel
    r = run(Executor(registry, backend=backend), {"one": n("Add", a=1, b=2)})
    assert r.status == "error"
    assert r.error["node_id"] == "one"
    assert "cannot be sent to Dask workers" in r.error["exception_message"]


def test_nodes_run_on_workers_kernel_nodes_in_the_kernel(ex):
    r = run(ex, {"remote": n("Pid", tag=0), "kernel": n("KernelPid", tag=0, after=link("remote"))})
    assert r.status == "success", r.error
    assert ex.get_output("remote")[0] != os.getpid()
    assert ex.get_output("kernel")[0] == os.getpid()


def test_cache_keys_are_the_same_as_local(ex):
    prompt = {**chain(4), "show": n("Show", tensor=link("t3"))}
    local = Executor(dask_nodes.make_registry())
    expected = run(local, prompt)
    got = run(ex, prompt)
    assert got.status == expected.status == "success"
    assert got.trace.keys == expected.trace.keys
    assert torch.equal(ex.get_output("t3")[0], local.get_output("t3")[0])
    assert got.outputs == expected.outputs == {"show": {"sum": [128.0]}}


def test_outputs_stay_on_the_workers(ex, monkeypatch):
    fetched: list[str] = []
    result = Future.result

    def recording_result(self, *args, **kwargs):
        fetched.append(self.key)
        return result(self, *args, **kwargs)

    monkeypatch.setattr(Future, "result", recording_result)
    r = run(ex, chain(5))
    assert r.status == "success", r.error
    assert r.executed == set(chain(5))
    assert fetched == []  # every node's outputs went from worker to worker
    assert torch.equal(ex.get_output("t4")[0], torch.full((4, 4), 16.0))  # asked for: fetched


def test_cached_rerun_sends_nothing(ex, backend, monkeypatch):
    prompt = {**chain(5), "show": n("Show", tensor=link("t4"))}
    assert run(ex, prompt).status == "success"
    sent: list = []
    for name in ("submit", "gather", "run", "cancel"):
        original = getattr(backend.client, name)
        monkeypatch.setattr(
            backend.client,
            name,
            lambda *a, _o=original, _n=name, **k: sent.append(_n) or _o(*a, **k),
        )
    monkeypatch.setattr(Future, "result", lambda self, *a, **k: sent.append("result"))
    r = run(ex, prompt)
    assert r.status == "success"
    assert r.executed == set()
    assert r.cached == set(prompt)
    assert r.outputs == {"show": {"sum": [256.0]}}  # the ui was kept in the kernel
    assert sent == []


def test_independent_branches_run_at_the_same_time(ex):
    name = uuid.uuid4().hex
    prompt = {
        "a": n("Rendezvous", name=name, peers=2, tag=0),
        "b": n("Rendezvous", name=name, peers=2, tag=1),
        "join": n("Add", a=link("a"), b=link("b")),
    }
    r = run(ex, prompt)
    assert r.status == "success", r.error
    assert ex.get_output("join")[0] == 1


def test_a_function_defined_in_a_cell_runs_on_the_workers(ex):
    offset = 100  # a closure: only pickling by value gets it to a worker

    @node
    def shifted(x: int = 0) -> int:
        return x + offset + os.getpid() * 0

    @node
    def where(x: int = 0) -> int:
        return os.getpid()

    ex.registry.register(shifted)
    ex.registry.register(where)
    r = run(ex, {"s": n("shifted", x=1), "w": n("where", x=1)})
    assert r.status == "success", r.error
    assert ex.get_output("s")[0] == 101
    assert ex.get_output("w")[0] != os.getpid()


def test_a_class_defined_in_a_cell_is_pickled_once_not_per_task(ex, monkeypatch):
    import engine.backends.dask as dask_backend

    made = []

    class Counted(dask_backend.PickledClass):
        def __init__(self, cls):
            made.append(cls)
            super().__init__(cls)

    monkeypatch.setattr(dask_backend, "PickledClass", Counted)

    @node
    def triple(x: int = 0) -> int:
        return 3 * x

    ex.registry.register(triple)
    for start in (0, 10):
        prompt = {str(i): n("triple", x=start + i) for i in range(10)}
        r = run(ex, prompt)
        assert r.status == "success", r.error
        assert [ex.get_output(str(i))[0] for i in range(10)] == [3 * (start + i) for i in range(10)]
    assert [cls.__name__ for cls in made] == ["triple"]


def test_a_node_instance_is_kept_per_worker(dask_client):
    backend = DaskBackend(dask_client, grace=0.5)
    ex = Executor(dask_nodes.make_registry(), cache="none", backend=backend)
    before = dask_client.run(dask_nodes.loads)
    prompt = {
        "model": n("CountingLoader", name=uuid.uuid4().hex),
        "use": n("UseModel", model=link("model"), seed=3),
    }
    for _ in range(4):  # cache "none": the loader runs every time
        r = run(ex, prompt)
        assert r.status == "success", r.error
        assert "model" in r.executed
    after = dask_client.run(dask_nodes.loads)
    loaded = {worker: after[worker] - before.get(worker, 0) for worker in after}
    assert 1 <= sum(loaded.values()) <= len(loaded)  # at most once per worker, not per task
    assert all(count <= 1 for count in loaded.values()), loaded
    backend.close()


# --- progress -----------------------------------------------------------------------------


def test_progress_and_previews_reach_the_kernel_coalesced(ex):
    events = []
    ex.subscribe(lambda e: events.append(e) if e.type == "progress" else None)
    r = run(ex, {"tick": n("Ticker", steps=400)})
    assert r.status == "success", r.error
    ticks = [e.data for e in events]
    assert ticks and all(t["node"] == "tick" and t["prompt_id"] == r.prompt_id for t in ticks)
    assert len(ticks) < 400  # coalesced, at most ~10 a second, as locally
    last = ticks[-1]
    assert (last["value"], last["max"]) == (400, 400)  # the last tick is always delivered
    preview = last["preview"]
    assert isinstance(preview, torch.Tensor) and preview.shape == (1, 4, 4, 3)
    assert torch.allclose(preview, torch.ones(1, 4, 4, 3))


def test_a_node_event_reaches_the_kernel(ex):
    events = []
    ex.subscribe(lambda e: events.append(e.data) if e.type == "announce" else None)
    r = run(ex, {"hello": n("Announce", text="hi")})
    assert r.status == "success", r.error
    assert events == [{"text": "hi", "node": "hello", "prompt_id": r.prompt_id, **events[0]}]


# --- chains submitted ahead ------------------------------------------------------------------


def tasks_named(client, prefix: str) -> list[str]:
    """The keys of the tasks the Dask scheduler has yet to run that start with ``prefix``
    (not those in memory: other tests' executors may still hold theirs)."""

    def keys(dask_scheduler=None):
        return sorted(
            str(key)
            for key, task in dask_scheduler.tasks.items()
            if str(key).startswith(prefix) and task.state in ("waiting", "queued", "processing")
        )

    return client.run_on_scheduler(keys)


def start_gated_chain(ex, client, path) -> tuple[str, dict]:
    """Run Gate -> Add -> Record (to ``path``) in the background, until the gate has
    started and the scheduler holds the two nodes after it (started ahead: the kernel sends
    them while the gate runs; they may reach the scheduler after the gate's first progress
    event reaches the kernel). Returns the gate's name (to open it) and the running box
    (``in_background``)."""
    gate = uuid.uuid4().hex
    prompt = {
        "gate": n("Gate", name=gate, value=1),
        "add": n("Add", a=link("gate"), b=1),
        "record": n("Record", value=link("add"), path=str(path)),
    }
    started = threading.Event()
    ex.subscribe(lambda e: started.set() if e.type == "progress" else None)
    running = in_background(lambda: run(ex, prompt))
    assert started.wait(60), "the gate did not start"
    assert wait_until(lambda: tasks_named(client, "Add-") and tasks_named(client, "Record-")), (
        "the nodes after the gate are not on the cluster while it runs"
    )
    return gate, running


def test_a_chain_is_on_the_cluster_before_its_first_node_ends(ex, dask_client, tmp_path):
    from distributed import Event

    gate, running = start_gated_chain(ex, dask_client, tmp_path / "log")
    # The kernel has sent the whole chain, once: Dask starts each link as the one before ends.
    assert len(tasks_named(dask_client, "Add-")) == 1
    assert len(tasks_named(dask_client, "Record-")) == 1
    Event(gate, client=dask_client).set()
    running["thread"].join(60)
    r = running["result"]
    assert r.status == "success", r.error
    assert r.executed == {"gate", "add", "record"}
    assert ex.get_output("record")[0] == 2
    assert (tmp_path / "log").read_text() == "2\n"  # the node ran once


def test_an_early_start_after_an_expansion_does_not_run_the_node(ex, tmp_path):
    log = tmp_path / "log"
    prompt = {
        "expand": n("Expander", value=5),
        "record": n("Record", value=link("expand"), path=str(log)),
    }
    r = run(ex, prompt)
    assert r.status == "success", r.error
    assert ex.get_output("record")[0] == 6
    # Its early task got the expansion, not a value: it did nothing; the node ran once.
    assert log.read_text() == "6\n"


def test_after_an_interrupt_no_node_started_ahead_runs(ex, dask_client, tmp_path):
    from distributed import Event

    gate, running = start_gated_chain(ex, dask_client, tmp_path / "log")
    ex.interrupt()
    running["thread"].join(60)
    assert running["result"].status == "interrupted"
    assert wait_until(lambda: not tasks_named(dask_client, "Record-"))
    Event(gate, client=dask_client).set()
    assert not (tmp_path / "log").exists()
    r = run(ex, {"after": n("Add", a=1, b=2)})
    assert r.status == "success"


# --- errors, interrupts, faults ---------------------------------------------------------------


def test_a_node_error_is_reported_as_locally(ex):
    r = run(ex, {"one": n("Add", a=1, b=0), "bad": n("Fail", value=link("one"))})
    assert r.status == "error"
    assert r.executed == {"one", "bad"}
    error = r.error
    assert (error["node_id"], error["node_type"]) == ("bad", "Fail")
    assert error["exception_type"] == "ValueError"
    assert error["exception_message"] == "cannot take 1"
    assert any("raise ValueError" in line for line in error["traceback"])
    assert error["current_inputs"] == {"value": ["1"]}


def test_a_failed_node_runs_again_once_fixed(ex, tmp_path):
    path = tmp_path / "input.txt"
    prompt = {"read": n("ReadFile", path=str(path))}
    r = run(ex, prompt)
    assert r.status == "error"
    assert r.error["exception_type"] == "FileNotFoundError"
    path.write_text("hello")
    r = run(ex, prompt)  # the same cache key: Dask must not hand back the failed task
    assert r.status == "success", r.error
    assert ex.get_output("read")[0] == "hello"


def test_interrupt_stops_nodes_that_ignore_it_and_frees_the_workers(ex, dask_client):
    started = threading.Event()
    seen: set[str] = set()

    def on_event(event):
        if event.type == "progress":
            seen.add(event.data["node"])
            if len(seen) == 2:
                started.set()

    ex.subscribe(on_event)
    prompt = {"busy1": n("Busy", seconds=300.0, tag=1), "busy2": n("Busy", seconds=300.0, tag=2)}
    running = in_background(lambda: run(ex, prompt))
    assert started.wait(60), "the busy nodes did not start"
    ex.interrupt()
    running["thread"].join(60)
    r = running["result"]
    assert r.status == "interrupted"
    assert not r.cached and ex.get_output("busy1") is None  # nothing interrupted was cached
    # Both workers were stuck in pure Python: they are free only if the interrupt was forced.
    # (Dask forgets cancelled tasks at once: ask the workers what really runs.)
    assert wait_until(lambda: not any(dask_client.run(running_nodes).values()))
    r = run(ex, {"after": n("Add", a=1, b=2)})
    assert r.status == "success"
    assert ex.get_output("after")[0] == 3


def test_a_worker_killed_mid_run(ex, dask_client):
    started = threading.Event()
    ex.subscribe(lambda e: started.set() if e.type == "progress" else None)
    prompt = {
        "first": n("Pid", tag=7),
        "nap": n("Nap", seconds=2.0, after=link("first")),
        "last": n("Add", a=link("nap"), b=0),
    }
    running = in_background(lambda: run(ex, prompt))
    assert started.wait(60), "the node did not start"
    (address,) = [w for w, keys in dask_client.processing().items() if keys]
    pid = dask_client.run(os.getpid, workers=[address])[address]
    os.kill(pid, signal.SIGKILL)
    running["thread"].join(120)
    r = running["result"]
    # Dask ran the node again on a live worker (and "first" again if its output was lost).
    assert r.status == "success", r.error
    assert ex.get_output("last")[0] != pid
    assert dask_client.wait_for_workers(2, timeout=120) is None
    r = run(ex, {**prompt, "again": n("Add", a=link("last"), b=1)})
    assert r.status == "success", r.error
    assert r.executed == {"again"}


def test_workers_that_keep_dying_fail_the_run_naming_the_node(backend):
    from distributed.scheduler import KilledWorker

    class DeadFuture:
        key = "Nap-0123"
        status = "error"
        type = None

        def exception(self):
            return KilledWorker("Nap-0123", type("W", (), {"address": "tcp://x"})(), 3)

    call = NodeCall("7", dask_nodes.make_registry().get("Nap"), {}, None)
    error = backend._outcome(call, DeadFuture())
    assert error.node_id == "7"
    assert error.exception_type == "distributed.scheduler.KilledWorker"
    assert "node 7 (Nap)" in error.message and "workers running it died" in error.message


def test_outputs_lost_on_the_cluster_are_computed_again(ex, dask_client):
    prompt = chain(3)
    assert run(ex, prompt).status == "success"
    # As a restart of the workers does: every future the cache holds is cancelled.
    entries = [ex.outputs.get(key) for key in ex.last_run.keys.values()]
    dask_client.cancel([slot.ref for entry in entries for slot in entry.outputs])
    assert ex.get_output("t2") is None
    r = run(ex, prompt)
    assert r.status == "success", r.error
    assert r.executed == set(prompt)
    assert torch.equal(ex.get_output("t2")[0], torch.full((4, 4), 4.0))


def test_values_asked_for_are_fetched(ex, backend):
    r = run(ex, chain(2))
    assert r.status == "success"
    key = r.trace.keys["t1"]
    entry = ex.outputs.get(key)
    assert all(type(slot) is RemoteSlot for slot in entry.outputs)  # the cache holds futures
    (value,) = ex.cached_output(key)
    assert torch.equal(value, torch.full((4, 4), 2.0))
