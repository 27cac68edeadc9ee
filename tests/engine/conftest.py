"""Fixtures shared by the engine tests.

The queue fixtures run the nodes of ``queue_nodes``; a module with nodes of its
own overrides ``registry``. ``reset_queue_nodes`` is not autouse: the queue and
history modules ask for it with ``pytestmark``.
"""

import pytest

from engine import Executor, NodeRegistry, PromptQueue

from .queue_nodes import GATES, RAN, make_registry


@pytest.fixture
def registry() -> NodeRegistry:
    return make_registry()


@pytest.fixture
def reset_queue_nodes():
    RAN.clear()
    yield
    for g in list(GATES.values()):
        g.open()
    GATES.clear()


@pytest.fixture
def make_queue(registry):
    """``make_queue(cache=..., **kwargs)`` → a queue on a new executor, shut down after the test."""
    queues: list[PromptQueue] = []

    def make(cache: str = "classic", **kwargs) -> PromptQueue:
        kwargs.setdefault("grace", 0.2)
        q = PromptQueue(Executor(registry, cache=cache), **kwargs)
        queues.append(q)
        return q

    yield make
    for q in queues:
        q.clear()
        q.interrupt()
        for g in GATES.values():
            g.open()
        q.close()


@pytest.fixture
def q(make_queue) -> PromptQueue:
    return make_queue()
