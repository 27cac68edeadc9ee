"""What one run leaves for the next: the memos that let a rerun skip unchanged work.

Every memo here describes the *same* prompt: the last one that ran (valid, run
to its end, failed or interrupted). A prompt that fails validation runs
nothing and leaves the last run's memos as they were. The executor replaces
its ``LastRun`` whole, with one assignment when a run ends, so an interrupt
(even one raised asynchronously) finds either the old memos or the new ones,
never a mix of two prompts.

- ``validation``: what validation learnt of that prompt (``ValidationMemo``):
  which nodes were valid, with their inputs, so that validation can tell the
  next prompt's unchanged nodes.
- ``keys``: node id -> signature (cache key) of every node signed.
- ``signatures``: node id -> (links, producers' signatures, eager key): lets an
  unchanged node's eager key be reused without hashing (``signatures.py``).
- ``infos``: node id -> ``NodeInfo``, reused for the nodes validation found unchanged.
- ``heads``: class type -> its signature head (code and globals fingerprints).
- ``fleeting``: nodes whose signature had a random part.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .validation import ValidationMemo


@dataclass(frozen=True)
class LastRun:
    validation: ValidationMemo = field(default_factory=ValidationMemo)
    keys: dict[str, str] = field(default_factory=dict)
    signatures: dict[str, tuple] = field(default_factory=dict)
    infos: dict[str, Any] = field(default_factory=dict)
    heads: dict[str, str] = field(default_factory=dict)
    fleeting: frozenset[str] | set[str] = frozenset()
