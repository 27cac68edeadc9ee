"""At most ``rate`` calls a second of a flush function, however often it is poked.

Engine events arrive on the queue's worker thread, possibly hundreds a second;
the canvas wants at most ~20 updates a second (``docs/editor-protocol.md``).
``poke()`` is cheap and never blocks on the flush; the flush runs on a timer
thread, so a slow flush (a PNG to encode) never slows the run. With ``settle``
the flush always waits ``interval`` after the poke that asked for it, so a burst
of pokes (the edits of one action) makes one late flush, not one at once and a
second one later.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Throttle:
    def __init__(self, flush: Callable[[], None], rate: float = 20.0, settle: bool = False):
        self._flush = flush
        self.interval = 1.0 / rate
        self._settle = settle
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._last = 0.0
        self._closed = False
        self._flushing = threading.Lock()  # one flush at a time (timer or flush_now)

    def poke(self) -> None:
        """Ask for a flush: within ``interval`` of the last one, never two at once."""
        with self._lock:
            if self._timer is not None or self._closed:
                return
            delay = (
                self.interval
                if self._settle
                else max(0.0, self._last + self.interval - time.monotonic())
            )
            self._timer = threading.Timer(delay, self._run)
            self._timer.daemon = True
            self._timer.start()

    def flush_now(self) -> None:
        """Flush in this thread (a pending timer then finds nothing new)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        self._call()

    def _run(self) -> None:
        with self._lock:
            self._timer = None
        self._call()

    def _call(self) -> None:
        with self._flushing:
            self._last = time.monotonic()
            try:
                self._flush()
            except Exception:  # a broken view must not stop later updates
                log.exception("editor update failed")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
