"""Fixtures shared by the engine tests.

``ex`` is an executor over the stub nodes of ``cache_nodes``, under each cache
mode; the queue fixtures run the nodes of ``queue_nodes``. A module with nodes
of its own overrides ``ex`` or ``registry``. ``reset_queue_nodes`` is not
autouse: the queue and history modules ask for it with ``pytestmark``.
"""

import pytest

from engine import Executor, NodeRegistry, PromptQueue

from . import cache_nodes, queue_nodes
from .queue_nodes import GATES, RAN


@pytest.fixture(autouse=True)
def _fresh_log():
    cache_nodes.LOG.clear()


@pytest.fixture
def ex(cache_mode) -> Executor:
    return Executor(cache_nodes.make_registry(), cache=cache_mode)


@pytest.fixture
def registry() -> NodeRegistry:
    return queue_nodes.make_registry()


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
