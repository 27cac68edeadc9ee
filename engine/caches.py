"""Output cache stores: what survives from one prompt to the next.

Entries are keyed by input signature (see ``signatures.py``); a store only
decides what to keep. The executor holds the values of the current run
itself, so an eviction mid-run never takes a value a running node needs.

- ``classic``: each node keeps the entry of its last result; an entry goes when
  no node of the current prompt owns it any more (ComfyUI's "keep what the last
  prompt used", without computing keys for nodes the prompt does not run).
- ``lru``: the ``max_size`` most recently used entries; entries used by the
  current prompt are never evicted before it ends.
- ``ram``: every entry, evicting the least recently used while free memory
  (psutil) is under ``headroom`` bytes.
- ``none``: nothing from one prompt to the next; within a prompt, identical
  nodes (same signature) are still computed once, as ComfyUI does.
"""

from __future__ import annotations

import gc
import time
from collections import OrderedDict
from typing import NamedTuple

import psutil


class CacheEntry(NamedTuple):
    ui: dict | None
    outputs: list  # one list of values per output slot (lists: a node maps over its inputs)


class OutputCache:
    """The interface every store implements; this base class stores nothing (``none``)."""

    def get(self, key: str) -> CacheEntry | None:
        return None

    def set(self, node_id: str, root_id: str, key: str, entry: CacheEntry) -> None:
        """Store ``entry`` for node ``node_id`` (ephemeral nodes: ``root_id`` is its original node)."""

    def claim(self, node_id: str, root_id: str, key: str) -> None:
        """Note that ``node_id`` used the entry at ``key`` in this prompt."""

    def begin(self) -> None:
        """A prompt starts."""

    def end(self, prompt_node_ids) -> None:
        """The prompt ended; ``prompt_node_ids`` are the ids of its original nodes."""

    def poll(self) -> None:
        """A node finished: a chance to react to memory pressure."""

    def clear(self) -> None:
        pass

    def __len__(self) -> int:
        return 0


class ClassicCache(OutputCache):
    def __init__(self):
        self.entries: dict[str, CacheEntry] = {}
        self.owner: dict[str, tuple[str, str]] = {}  # node id -> (its original node, key)
        self.refs: dict[str, int] = {}  # key -> number of nodes owning it

    def get(self, key):
        return self.entries.get(key)

    def set(self, node_id, root_id, key, entry):
        self.entries[key] = entry
        self.claim(node_id, root_id, key)

    def claim(self, node_id, root_id, key):
        old = self.owner.get(node_id)
        if old is not None and old[1] == key:
            return
        self.owner[node_id] = (root_id, key)
        self.refs[key] = self.refs.get(key, 0) + 1
        if old is not None:
            self._release(old[1])

    def _release(self, key):
        count = self.refs[key] - 1
        if count:
            self.refs[key] = count
        else:
            del self.refs[key]
            self.entries.pop(key, None)

    def end(self, prompt_node_ids):
        owner = self.owner
        # A set difference first (no Python loop over every node): an expanded node is
        # not in the prompt but stays while the node it descends from is.
        gone = [n for n in owner.keys() - prompt_node_ids if owner[n][0] not in prompt_node_ids]
        for node_id in gone:
            self._release(self.owner.pop(node_id)[1])

    def clear(self):
        self.entries.clear()
        self.owner.clear()
        self.refs.clear()

    def __len__(self):
        return len(self.entries)


class LRUCache(OutputCache):
    def __init__(self, max_size: int = 100):
        self.max_size = max_size
        self.entries: OrderedDict[str, CacheEntry] = OrderedDict()
        self.in_use: set[str] = set()  # keys the current prompt used

    def get(self, key):
        entry = self.entries.get(key)
        if entry is not None:
            self.entries.move_to_end(key)
            self.in_use.add(key)
        return entry

    def set(self, node_id, root_id, key, entry):
        self.entries[key] = entry
        self.entries.move_to_end(key)
        self.in_use.add(key)
        self._trim()

    def _trim(self):
        # Used entries sit at the end, so the oldest ones are the unused ones.
        while len(self.entries) > self.max_size:
            key = next(iter(self.entries))
            if key in self.in_use:
                break
            del self.entries[key]

    def begin(self):
        self.in_use = set()

    def end(self, prompt_node_ids):
        self.in_use = set()
        self._trim()

    def clear(self):
        self.entries.clear()
        self.in_use.clear()

    def __len__(self):
        return len(self.entries)


class RAMPressureCache(LRUCache):
    POLL_INTERVAL = 0.05  # seconds: psutil costs ~20 µs, too much after every trivial node

    def __init__(self, headroom: int):
        super().__init__(max_size=0)
        self.headroom = headroom
        self._last_poll = 0.0

    def _trim(self):
        pass

    def poll(self, force: bool = False):
        now = time.monotonic()
        if not force and now - self._last_poll < self.POLL_INTERVAL:
            return
        self._last_poll = now
        while self.entries and psutil.virtual_memory().available < self.headroom:
            # Drop the oldest quarter, then measure again: freed tensors return
            # memory only once collected.
            for _ in range(max(1, len(self.entries) // 4)):
                self.entries.popitem(last=False)
            gc.collect()

    def end(self, prompt_node_ids):
        self.in_use = set()
        self.poll(force=True)


class NoCache(OutputCache):
    """``none``: entries live only while their prompt runs."""

    def __init__(self):
        self.entries: dict[str, CacheEntry] = {}

    def get(self, key):
        return self.entries.get(key)

    def set(self, node_id, root_id, key, entry):
        self.entries[key] = entry

    def begin(self):
        self.entries.clear()

    def end(self, prompt_node_ids):
        self.entries.clear()

    def clear(self):
        self.entries.clear()


def default_ram_headroom() -> int:
    """4 GiB, or a quarter of the machine's memory if that is less."""
    return min(4 << 30, psutil.virtual_memory().total // 4)


def make_cache(strategy: str, lru_size: int = 100, ram_headroom: int | None = None) -> OutputCache:
    if strategy == "classic":
        return ClassicCache()
    if strategy == "lru":
        return LRUCache(lru_size)
    if strategy == "ram":
        return RAMPressureCache(default_ram_headroom() if ram_headroom is None else ram_headroom)
    if strategy == "none":
        return NoCache()
    raise ValueError(f"unknown cache strategy {strategy!r}: use classic, lru, ram or none")
