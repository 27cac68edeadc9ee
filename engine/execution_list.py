"""Execution order: which nodes of a run are left, and which may run now.

State, all mutated only by the methods below, from the run's thread:

- ``pending``: nodes added to the run and not completed, in insertion order.
- ``block_count[n]``: how many things ``n`` still waits for: one per producer
  linked to it that has not completed, plus one per external block (an async
  node's task in flight).
- ``blocking[p]``: the consumers waiting for ``p`` (a dict used as an ordered set).
- ``staged``: the node handed out by ``stage()`` and not yet completed or unstaged.
- ``_ready``: nodes with nothing to wait for, in four FIFO tiers, so that
  picking the next node is O(1) (ComfyUI scans every pending node per step,
  which makes its engine quadratic).

Run output nodes and async nodes first when several are ready: the total time
is the same, but the user sees a preview sooner and async work overlaps more.
Then nodes that feed an output node, then nodes two steps from one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any


class ExecutionList:
    def __init__(
        self,
        links_of: Callable[[str, bool], Iterable[str]],
        available: Callable[[str], bool],
        node_type: Callable[[str], Any],
    ):
        """``links_of(node, include_lazy)`` gives the producers the node needs;
        ``available(producer)`` tells whether a producer's outputs are
        already at hand (completed or cached); ``node_type(node)`` whether it is
        an output node (``.is_output``) or an async one (``.is_async``)."""
        self._links_of = links_of
        self._available = available
        self._node_type = node_type
        self.pending: dict[str, None] = {}
        self.block_count: dict[str, int] = {}
        self.blocking: dict[str, dict[str, None]] = {}
        self.staged: str | None = None
        self.external_blocks = 0
        self._ready: tuple[deque, ...] = (deque(), deque(), deque(), deque())
        self._queued: set[str] = set()
        self._outputs: set[str] = set()  # the output nodes added
        self._eager: set[str] = set()  # the output and async nodes added: they run first

    def is_empty(self) -> bool:
        return not self.pending

    def add_node(self, node_id: str, include_lazy: bool = False) -> None:
        """Add ``node_id`` and, transitively, every producer it needs that is not at hand."""
        stack = [(node_id, include_lazy)]
        added = []
        pending, available = self.pending, self._available
        while stack:
            current, lazy = stack.pop()
            if current in pending:
                continue
            pending[current] = None
            self.block_count.setdefault(current, 0)
            added.append(current)
            kind = self._node_type(current)
            if kind.is_output:
                self._outputs.add(current)
            if kind.is_output or kind.is_async:
                self._eager.add(current)
            for producer in self._links_of(current, lazy):
                # A pending producer was found not at hand when it was added.
                if producer in pending or not available(producer):
                    self._link(producer, current)
                    stack.append((producer, False))
        for current in added:  # after all links exist, so the tiers see the consumers
            self._queue_if_ready(current)

    def add_strong_link(self, producer: str, consumer: str) -> None:
        """Make ``consumer`` wait for ``producer`` (adding it to the run if needed)."""
        if self._available(producer):
            return
        self._link(producer, consumer)
        self.add_node(producer)

    def add_external_block(self, node_id: str) -> Callable[[], None]:
        """Block ``node_id`` until the returned function is called (once)."""
        self.block_count[node_id] += 1
        self.external_blocks += 1

        def unblock() -> None:
            self.external_blocks -= 1
            self._release(node_id)

        return unblock

    def stage(self) -> str | None:
        """The next node to run, or None if every pending node waits for something."""
        for tier in self._ready:
            while tier:
                node_id = tier.popleft()
                self._queued.discard(node_id)
                if node_id in self.pending and self.block_count[node_id] == 0:
                    self.staged = node_id
                    return node_id
        return None

    def unstage(self) -> None:
        """The staged node is not finished (it waits on new links): put it back."""
        node_id, self.staged = self.staged, None
        if node_id is not None:
            self._queue_if_ready(node_id)

    def complete(self, node_id: str) -> None:
        """``node_id`` finished: release its consumers."""
        if self.staged == node_id:
            self.staged = None
        self.pending.pop(node_id, None)
        block_count = self.block_count
        for consumer in self.blocking.pop(node_id, ()):
            block_count[consumer] -= 1
            self._queue_if_ready(consumer)

    def nodes_in_cycle(self) -> list[str]:
        """Pending nodes on or between cycles (call when nothing can be staged)."""
        remaining = {n for n in self.pending if self.block_count.get(n, 0) > 0}
        changed = True
        while changed:  # peel off nodes that block nothing still remaining
            changed = False
            for node_id in list(remaining):
                if not any(c in remaining for c in self.blocking.get(node_id, ())):
                    remaining.discard(node_id)
                    changed = True
        return [n for n in self.pending if n in remaining]

    def _link(self, producer: str, consumer: str) -> None:
        consumers = self.blocking.get(producer)
        if consumers is None:
            consumers = self.blocking[producer] = {}
        if consumer not in consumers:
            consumers[consumer] = None
            self.block_count[consumer] += 1

    def _release(self, node_id: str) -> None:
        self.block_count[node_id] -= 1
        self._queue_if_ready(node_id)

    def _queue_if_ready(self, node_id: str) -> None:
        if (
            self.block_count.get(node_id, 0) == 0
            and node_id in self.pending
            and node_id not in self._queued
            and node_id != self.staged
        ):
            self._queued.add(node_id)
            self._ready[self._tier(node_id)].append(node_id)

    def _tier(self, node_id: str) -> int:
        if node_id in self._eager:
            return 0
        blocking, outputs = self.blocking, self._outputs
        consumers = blocking.get(node_id)
        if not consumers:
            return 3
        if not outputs.isdisjoint(consumers):
            return 1
        for consumer in consumers:
            if not outputs.isdisjoint(blocking.get(consumer, ())):
                return 2
        return 3
