"""The typed event bus: the one way widgets, progress bars and logs follow a run.

Event types (with ComfyUI's names and payloads): ``execution_start``,
``execution_cached`` (``nodes``), ``executing`` (``node``; None at the end),
``progress``, ``executed`` (``node``, ``output``), ``execution_error``,
``execution_interrupted``, ``execution_success``, and the queue's ``status``.
Every payload carries ``prompt_id`` and a millisecond ``timestamp``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import InterruptProcessing

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    type: str
    data: dict = field(default_factory=dict)

    @property
    def prompt_id(self) -> str | None:
        return self.data.get("prompt_id")


Subscriber = Callable[[Event], None]


class EventBus:
    """Delivers events to subscribers, synchronously, in the emitting thread.

    A subscriber that raises is logged and skipped: a broken progress bar must
    not break the run.
    """

    def __init__(self):
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Add ``callback``; returns a function that removes it."""
        with self._lock:
            self._subscribers = [*self._subscribers, callback]

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = [s for s in self._subscribers if s is not callback]

        return unsubscribe

    @property
    def active(self) -> bool:
        """Whether anyone listens (to skip building an event nobody reads)."""
        return bool(self._subscribers)

    def emit(self, type: str, prompt_id: str | None, **data) -> None:
        subscribers = self._subscribers  # copy-on-write: no lock on the hot path
        if not subscribers:
            return
        event = Event(type, {**data, "prompt_id": prompt_id, "timestamp": int(time.time() * 1000)})
        for callback in subscribers:
            try:
                callback(event)
            except InterruptProcessing:  # the run's own interrupt, arriving mid-callback
                raise
            except Exception:
                log.exception("event subscriber %r failed on %s", callback, type)
