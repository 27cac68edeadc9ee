"""The ``comfy.model_management`` stand-in: interrupts onto the engine's, and device queries.

``throw_exception_if_processing_interrupted()`` raises the engine's
``InterruptProcessing`` (also named ``InterruptProcessingException`` here) if
the run of the calling node was interrupted; ``processing_interrupted()``
says so without raising. ``interrupt_current_processing()`` interrupts the
bound session's run. Nothing of ComfyUI's model loading is here.
"""

from __future__ import annotations

import torch

from engine import InterruptProcessing, progress

InterruptProcessingException = InterruptProcessing

_executor = None  # the session's executor (bind)


def bind(executor) -> None:
    global _executor
    _executor = executor


def throw_exception_if_processing_interrupted() -> None:
    progress.check_interrupted()


def processing_interrupted() -> bool:
    try:
        progress.check_interrupted()
    except InterruptProcessing:
        return True
    return False


def interrupt_current_processing(value: bool = True) -> None:
    if value and _executor is not None:
        _executor.interrupt()


def get_torch_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def intermediate_device() -> torch.device:
    return torch.device("cpu")


def intermediate_dtype() -> torch.dtype:
    return torch.float32


def soft_empty_cache(force: bool = False) -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
