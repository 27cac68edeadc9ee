"""The errors a run reports, and how it describes the values involved."""

from __future__ import annotations

import sys
from typing import Any


class InterruptProcessing(Exception):
    """Raised inside a run when the user interrupts it."""


class DependencyCycleError(Exception):
    pass


class DuplicateNodeError(Exception):
    pass


class RemoteNodeError(Exception):
    """A node's code raised where a backend ran it (a Dask worker): the error, described there.

    Carries what the run's error report needs, as plain data (the original
    exception need not unpickle in the kernel): ``node_id``, ``exception_type``
    (its full name), ``message``, ``traceback`` (formatted lines), ``inputs``
    (input name -> summaries of its values) and ``oom`` (it was out of memory).
    """

    def __init__(
        self,
        node_id: str,
        exception_type: str,
        message: str,
        traceback: list[str] | None = None,
        inputs: dict | None = None,
        oom: bool = False,
    ):
        super().__init__(node_id, exception_type, message, traceback, inputs, oom)
        self.node_id = node_id
        self.exception_type = exception_type
        self.message = message
        self.traceback = traceback or []
        self.inputs = inputs or {}
        self.oom = oom

    def __str__(self) -> str:
        return self.message


OOM_TIP = (
    "This error means you ran out of memory. The caches were emptied to free it.\n\n"
    "TIPS: if the graph worked before, a batch size or an image size may have been "
    "set too large by accident."
)


def summarize(value: Any, limit: int = 200) -> str:
    """A short description of a value for error reports and the history (tensors by shape
    and dtype, anything else by its repr cut at ``limit``); never raises."""
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None and dtype is not None:
        try:
            return f"{type(value).__name__}(shape={list(shape)}, dtype={dtype})"
        except TypeError:  # a shape that is not a sequence
            pass
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit] + "…"


def is_oom(exc: BaseException | None) -> bool:
    if isinstance(exc, MemoryError):
        return True
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(exc, getattr(torch, "OutOfMemoryError", ()))


def full_name(cls: type) -> str:
    module = cls.__module__
    return cls.__qualname__ if module in (None, "builtins") else f"{module}.{cls.__qualname__}"
