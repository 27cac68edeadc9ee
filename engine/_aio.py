"""Running coroutines from synchronous engine code."""

from __future__ import annotations

import asyncio
import inspect
import threading
from typing import Any


def resolve(value: Any) -> Any:
    """``value``, or its result if it is awaitable (an ``async def`` hook's return)."""
    if not inspect.isawaitable(value):
        return value
    return run_sync(_await(value))


async def _await(awaitable):
    return await awaitable


def run_sync(coro) -> Any:
    """Run ``coro`` to completion from synchronous code.

    In a thread whose event loop is running (a Jupyter cell), a new loop cannot
    run there, so the coroutine runs on a short-lived thread instead.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target():
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="engine-coroutine", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
