"""The ``concurrent.futures`` backend: node calls as a pool's jobs (threads, or processes)."""

from __future__ import annotations

import concurrent.futures
import os
import threading
import uuid

import pytest

from engine import Executor
from engine.backends import futures

from . import dask_nodes
from .dask_nodes import in_background, n, run, wait_until
from .stubs import link


@pytest.fixture
def ex():
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        yield Executor(dask_nodes.make_registry(), backend=pool)  # wrapped by make_backend


def test_independent_branches_run_side_by_side(ex):
    name = uuid.uuid4().hex
    prompt = {
        "a": n("Meet", name=name, peers=2, tag=1),
        "b": n("Meet", name=name, peers=2, tag=2),
        "sum": n("Add", a=link("a"), b=link("b")),
    }
    r = run(ex, prompt)
    assert r.status == "success", r.error
    assert ex.get_output("sum")[0] == 3


def test_progress_and_events_reach_the_run(ex):
    events = []
    ex.subscribe(lambda e: events.append(e) if e.type in ("progress", "announce") else None)
    r = run(ex, {"tick": n("Ticker", steps=50), "hello": n("Announce", text="hi")})
    assert r.status == "success", r.error
    ticks = [e.data for e in events if e.type == "progress"]
    assert (ticks[-1]["value"], ticks[-1]["max"]) == (50, 50)
    assert [e.data["text"] for e in events if e.type == "announce"] == ["hi"]


def test_interrupt_stops_pool_threads_that_ignore_it(ex):
    started = threading.Event()
    seen: set[str] = set()

    def on_event(event):
        if event.type == "progress":
            seen.add(event.data["node"])
            if len(seen) == 2:
                started.set()

    ex.subscribe(on_event)
    ex.backend.grace = 0.5
    prompt = {"busy1": n("Busy", seconds=300.0, tag=1), "busy2": n("Busy", seconds=300.0, tag=2)}
    running = in_background(lambda: run(ex, prompt))
    assert started.wait(60)
    ex.interrupt()
    running["thread"].join(60)
    assert running["result"].status == "interrupted"
    assert wait_until(lambda: not futures._STATE.running)  # both pool threads are free
    assert run(ex, {"after": n("Add", a=1, b=2)}).status == "success"


def test_a_process_pool_runs_nodes_in_its_processes():
    with concurrent.futures.ProcessPoolExecutor(1) as pool:
        ex = Executor(dask_nodes.make_registry(), backend=pool)
        r = run(ex, {"pid": n("Pid", tag=1), "kernel": n("KernelPid", tag=1, after=link("pid"))})
        assert r.status == "success", r.error
        assert ex.get_output("pid")[0] != os.getpid()
        assert ex.get_output("kernel")[0] == os.getpid()
