"""Nodes and prompt literals for the queue and history tests.

``mark`` records its tag in ``RAN``; ``gate`` holds the worker (ticking
progress) until the test opens its ``Gate``, so tests can queue behind a running
job without sleeping; ``spin`` and ``nap`` stand for nodes that never tick;
``stuck`` (a native call) and ``stubborn`` (swallows exceptions) for nodes no
interrupt stops, until their gate opens.
Waits use events and ``Job.result(TIMEOUT)`` with a generous timeout, never a
sleep standing for "long enough". The ``reset_queue_nodes`` fixture (see
conftest) clears ``RAN`` and opens every gate after each test.
"""

from __future__ import annotations

import threading
import time
import uuid

from engine import Job, NodeOutput, NodeRegistry, PromptQueue, node, progress

TIMEOUT = 60.0  # generous: the suite may run on a loaded 2-core machine

RAN: list[str] = []  # tags of the `mark` nodes that ran, in order
_ran_lock = threading.Lock()
GATES: dict[str, Gate] = {}


class Gate:
    """Holds a ``gate`` (or marks a ``spin``/``nap``) node: ``started`` when it runs, ``open()`` to let it finish."""

    def __init__(self):
        self.name = uuid.uuid4().hex
        self.started = threading.Event()
        self.opened = threading.Event()
        GATES[self.name] = self

    def open(self) -> None:
        self.opened.set()


@node
def value(v: int = 0) -> int:
    return v


@node(output=True)
def mark(x: int, tag: str = "") -> int:
    with _ran_lock:
        RAN.append(tag)
    return NodeOutput(x, ui={"tag": [tag], "x": [x]})


@node(output=True)
def gate(x: int, name: str = "") -> int:
    """Waits until its gate opens, ticking progress, so an interrupt stops it at once."""
    g = GATES[name]
    g.started.set()
    step = 0
    while not g.opened.wait(0.005):
        step += 1
        progress.update(step, None)
        if step > TIMEOUT / 0.005:
            raise TimeoutError("the gate was never opened")
    return NodeOutput(x, ui={"gate": [name]})


@node(output=True)
def spin(x: int, name: str = "", seconds: float = TIMEOUT) -> int:
    """A pure-Python loop that never calls progress (bounded, so a failing test ends)."""
    GATES[name].started.set()
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        i += 1
    return x


@node(output=True)
def nap(x: int, name: str = "", seconds: float = 1.0) -> int:
    """One native call (``time.sleep``) that Python cannot interrupt."""
    GATES[name].started.set()
    time.sleep(seconds)
    return x


@node(output=True)
def stuck(x: int, name: str = "") -> int:
    """One native call that no interrupt reaches (a lock acquire) until its gate opens."""
    g = GATES[name]
    g.started.set()
    g.opened.wait(TIMEOUT)
    return x


@node(output=True)
def stubborn(x: int, name: str = "") -> int:
    """Python code that swallows every exception (the forced interrupt too) until its gate opens."""
    g = GATES[name]
    g.started.set()

    def wait() -> None:  # where the forced interrupt lands: inside the try below
        while not g.opened.is_set():
            time.sleep(0.001)

    while True:
        try:
            wait()
            break
        except Exception:
            pass
    return x


@node(output=True)
def ticks(x: int, n: int = 10, pause: float = 0.0) -> int:
    for i in range(1, n + 1):
        progress.update(i, n)
        if pause:
            time.sleep(pause)
    return x


@node(output=True)
def fail(x: int) -> int:
    raise ValueError("boom")


NODES = [value, mark, gate, spin, nap, stuck, stubborn, ticks, fail]


def v(x: int = 0) -> dict:
    return {"class_type": "value", "inputs": {"v": x}}


def marked(tag: str, x: int = 0) -> dict:
    return {"v": v(x), "m": {"class_type": "mark", "inputs": {"x": ["v", 0], "tag": tag}}}


def gated(g: Gate, x: int = 0) -> dict:
    return {"v": v(x), "g": {"class_type": "gate", "inputs": {"x": ["v", 0], "name": g.name}}}


def spinning(g: Gate, seconds: float = TIMEOUT) -> dict:
    inputs = {"x": ["v", 0], "name": g.name, "seconds": seconds}
    return {"v": v(), "s": {"class_type": "spin", "inputs": inputs}}


def started(g: Gate, job: Job) -> bool:
    """Wait until ``g``'s node runs; False (at once) if the job ends first."""
    wait_until(lambda: g.started.is_set() or job.done())
    return g.started.is_set()


def wait_until(predicate, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for a condition")
        time.sleep(0.005)


def gate_node(kind: str, g: Gate) -> dict:
    """A prompt: ``v`` feeding a node of type ``kind`` held by ``g`` (``gate``, ``stuck``, ...)."""
    return {"v": v(), "n": {"class_type": kind, "inputs": {"x": ["v", 0], "name": g.name}}}


def make_registry() -> NodeRegistry:
    registry = NodeRegistry()
    for fn in NODES:
        registry.register(fn)
    return registry


def hold(q: PromptQueue) -> tuple[Gate, Job]:
    """Occupy the worker with a gated job; returns the gate (open it to go on) and the job."""
    g = Gate()
    (job,) = q.submit(gated(g))
    assert started(g, job)
    return g, job
