"""Raising an exception in another thread (``PyThreadState_SetAsyncExc``), and taking it back.

Python delivers such an exception between bytecodes of the target thread: a
native call (a long C or CUDA kernel, ``time.sleep``) sees it only when it
returns to Python.
"""

from __future__ import annotations

import ctypes

# Our own prototypes, not the shared ctypes.pythonapi attribute (whose argtypes
# other code may set differently).
_SetAsyncExc = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.py_object)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi)
)
_ClearAsyncExc = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi)
)


def raise_in_thread(thread: int, exc_type: type[BaseException]) -> None:
    _SetAsyncExc(thread, exc_type)


def clear_in_thread(thread: int) -> None:
    """Take back an exception raised in ``thread`` and not delivered yet (if any)."""
    _ClearAsyncExc(thread, None)
