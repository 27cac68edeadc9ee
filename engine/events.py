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


def now_ms() -> int:
    """The clock of event timestamps: milliseconds since the epoch."""
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Event:
    type: str
    data: dict = field(default_factory=dict)

    @classmethod
    def make(cls, type: str, prompt_id: str | None, **data) -> Event:
        """An event of ``type`` with ``data`` plus its ``prompt_id`` and a timestamp of now."""
        return cls(type, {**data, "prompt_id": prompt_id, "timestamp": now_ms()})

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
        """Build the event (see ``Event.make``) and publish it, if anyone listens."""
        if self._subscribers:
            self.publish(Event.make(type, prompt_id, **data))

    def publish(self, event: Event) -> None:
        """Deliver ``event`` as it is (one built elsewhere: forwarded) to every subscriber."""
        for callback in self._subscribers:  # copy-on-write: no lock on the hot path
            try:
                callback(event)
            except InterruptProcessing:  # the run's own interrupt, arriving mid-callback
                raise
            except Exception:
                log.exception("event subscriber %r failed on %s", callback, event.type)
