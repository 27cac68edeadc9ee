"""Running coroutines, and engine calls, from code that may sit in a running event loop."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable
from typing import Any


def resolve(value: Any) -> Any:
    """``value``, or its result if it is awaitable (an ``async def`` hook's return)."""
    if not inspect.isawaitable(value):
        return value
    return run_sync(_await(value))


async def _await(awaitable):
    return await awaitable


def run_sync(coro) -> Any:
    """Run ``coro`` to completion from synchronous code (see ``off_the_loop``)."""
    return off_the_loop(lambda: asyncio.run(coro), "engine-coroutine", daemon=True)


def off_the_loop(fn: Callable[[], Any], name: str, *, daemon: bool = False) -> Any:
    """``fn()``, called in this thread unless its event loop is running.

    In a thread whose event loop is running (a Jupyter cell), a new loop cannot
    run there, so ``fn`` runs on a short-lived thread of its own and this one
    waits; its exception is re-raised here.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn()
    box: dict[str, Any] = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name=name, daemon=daemon)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
