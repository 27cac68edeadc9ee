"""The ``server`` stand-in: ``PromptServer.instance``, onto the session's event bus.

The workbench runs no web server. What packs do with ComfyUI's at import time
and while their nodes run lands here:

- ``send_sync(event, data)`` (and ``send``, ``send_progress_text``) emits
  ``event`` on the event bus of the run the calling node belongs to (with its
  prompt id), or outside a run on the bound session's executor's bus;
- ``routes.get("/path")`` and the other decorators return the function
  unchanged and remember the route, so the load report can say which HTTP
  routes a pack declared and that they are not served.
"""

from __future__ import annotations

from typing import Any

from engine import progress


class Routes:
    """A stand-in for aiohttp's ``RouteTableDef``: decorators that record and change nothing."""

    def __init__(self):
        self.declared: list[tuple[str, str]] = []

    def route(self, method: str, path: str, **_options: Any):
        def record(handler):
            self.declared.append((method.upper(), str(path)))
            return handler

        return record

    def get(self, path: str, **options: Any):
        return self.route("GET", path, **options)

    def post(self, path: str, **options: Any):
        return self.route("POST", path, **options)

    def put(self, path: str, **options: Any):
        return self.route("PUT", path, **options)

    def patch(self, path: str, **options: Any):
        return self.route("PATCH", path, **options)

    def delete(self, path: str, **options: Any):
        return self.route("DELETE", path, **options)

    def head(self, path: str, **options: Any):
        return self.route("HEAD", path, **options)

    def view(self, path: str, **options: Any):
        return self.route("*", path, **options)

    def static(self, prefix: str, path: Any, **_options: Any) -> None:
        self.declared.append(("STATIC", str(prefix)))


class PromptServer:
    """``PromptServer.instance``: see the module docstring."""

    instance: PromptServer

    def __init__(self):
        self.routes = Routes()
        self.client_id: str | None = None
        self.last_node_id: str | None = None
        self.last_prompt_id: str | None = None
        self._executor = None

    def bind(self, executor) -> None:
        """Send events outside a run to ``executor``'s bus (the session loading packs)."""
        self._executor = executor

    def send_sync(self, event: str, data: Any, sid: str | None = None) -> None:
        data = {str(k): v for k, v in data.items()} if isinstance(data, dict) else {"data": data}
        if progress.send(str(event), data):
            return
        if self._executor is not None:
            self._executor.events.emit(str(event), None, **data)

    async def send(self, event: str, data: Any, sid: str | None = None) -> None:
        self.send_sync(event, data, sid)

    async def send_json(self, event: str, data: Any, sid: str | None = None) -> None:
        self.send_sync(event, data, sid)

    def send_progress_text(self, text: str, node_id: str, sid: str | None = None) -> None:
        self.send_sync("progress_text", {"node": node_id, "text": text}, sid)


PromptServer.instance = PromptServer()
