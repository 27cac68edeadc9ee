"""The ``comfy_api.latest`` stand-in: ``io``, ``ui``, ``ComfyExtension`` and ``ComfyAPI``.

A V3 pack's ``__init__.py`` ends with::

    class MyExtension(ComfyExtension):
        async def get_node_list(self):
            return [MyNode, OtherNode]

    async def comfy_entrypoint():
        return MyExtension()

The loader awaits ``comfy_entrypoint()``, then ``on_load()`` and
``get_node_list()`` of what it returned. ``ComfyAPI().execution.set_progress``
(and ``ComfyAPISync``'s) report progress as ``engine.progress.update`` does.
"""

from __future__ import annotations

from typing import Any

from engine import progress

from . import comfy_io as io
from . import comfy_ui as ui
from .comfy_utils import _preview_tensor

IO = io  # ComfyUI exports both spellings
UI = ui
comfy_io = io

__all__ = ["IO", "UI", "ComfyAPI", "ComfyAPISync", "ComfyExtension", "comfy_io", "io", "ui"]


class ComfyExtension:
    """What ``comfy_entrypoint()`` returns: the pack's V3 nodes (``get_node_list``)."""

    async def on_load(self) -> None:
        """Called once when the pack is loaded, before ``get_node_list``."""

    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        raise NotImplementedError(f"{type(self).__name__} defines no get_node_list()")


class _Execution:
    def set_progress_now(self, value: float, max_value: float, node_id: Any = None,
                         preview_image: Any = None, ignore_size_limit: bool = False) -> None:  # fmt: skip
        progress.update(value, max_value, _preview_tensor(preview_image))


class _AsyncExecution(_Execution):
    async def set_progress(self, *args: Any, **kwargs: Any) -> None:
        self.set_progress_now(*args, **kwargs)


class _SyncExecution(_Execution):
    def set_progress(self, *args: Any, **kwargs: Any) -> None:
        self.set_progress_now(*args, **kwargs)


class ComfyAPI:
    """``ComfyAPI().execution.set_progress(value, max_value, ...)`` (awaitable)."""

    def __init__(self):
        self.execution = _AsyncExecution()


class ComfyAPISync:
    """``ComfyAPISync().execution.set_progress(value, max_value, ...)``."""

    def __init__(self):
        self.execution = _SyncExecution()
