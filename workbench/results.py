"""A run's result in the notebook: a status table, then the outputs, then any error.

``RunResult`` wraps the engine's ``ExecutionResult`` of one job. In Jupyter it
renders as its summary line, a compact table (node, type, executed / cached /
error, time) and output previews: images inline as PNG, tensors summarised by
shape, dtype and range, other values by ``repr``; an error shows the failing
node, its message and traceback. ``result[handle]`` is the Python value,
read from the cache.

One truth per run: the summary line (``RunResult.summary``, also the last line
of the run's progress display), the table and ``executed`` / ``cached`` are all
read from the one ``ExecutionResult``. The line counts ``len(executed)`` and
``len(cached)`` (and ``len(reused)``, when any); the table has a row per node of
the prompt (and per node an expansion added), marked ``executed``, ``cached`` or
``reused`` as those sets say, except
the node the run failed or was interrupted at, marked ``error``,
``interrupted``, or ``stopping`` while its code still runs (a run the queue
gave up on; ``PromptQueue.stopping``).

Display never raises for what a node put in its ``ui``: it shows what it can
and skips the rest. A ``ui`` that is not a dict shows nothing; ``images`` and
``text`` that are not lists count as one item (as the engine merges them); an
image that is not a dict, names no string file, or is no readable picture in
the output folders is skipped; a text that cannot be printed shows its type.
"""

from __future__ import annotations

import base64
import html
import io
import os
from typing import Any

from nodes import folders

from .graph import Node, Output, at_user_frame, node_id_of, terminal_nodes

MAX_PREVIEWS = 8
THUMBNAIL = 256  # px: the longest side of an inline preview, at most
MIN_PREVIEW = 128  # px: and at least (small images scaled up, nearest neighbour)

WORDS = {  # the summary's first word, by status
    "success": "done",
    "error": "failed",
    "interrupted": "interrupted",
    "invalid": "invalid",
    "cancelled": "cancelled",
    "pending": "queued",
    "running": "running",
}
STOPPING_NOTE = (  # why a node of a run given up on still runs
    "it is inside a call that Python cannot interrupt (C code, time.sleep, a lock) and "
    "stops when that returns"
)


class RunResult:
    """One run's outcome; see the module docstring."""

    def __init__(self, workbench, job, result, graph):
        self._wb = workbench
        self.job = job
        self.result = result  # engine ExecutionResult, or None if the job never ran
        self.prompt = job.prompt
        self.graph = graph

    @property
    def status(self) -> str:
        return self.result.status if self.result is not None else self.job.status

    @property
    def ok(self) -> bool:
        return self.status == "success"

    @property
    def seconds(self) -> float | None:
        """How long the job ran (from leaving the queue to its result), or None if it never ran."""
        job = self.job
        if job.started_at is None or job.finished_at is None:
            return None
        return (job.finished_at - job.started_at) / 1000

    @property
    def stopping(self) -> str | None:
        """The node of this run whose code still runs after the run was given up on, or None."""
        stopping = self._wb.queue.stopping()
        return stopping[1] if stopping is not None and stopping[0] is self.job else None

    @property
    def summary(self) -> str:
        """One line: the outcome, ``N ran, M cached`` (the sizes of ``executed`` and
        ``cached``; then ``K reused`` if any), the time, and where it failed or stopped."""
        line = f"{WORDS.get(self.status, self.status)}: {len(self.executed)} ran, {len(self.cached)} cached"
        if self.reused:
            line += f", {len(self.reused)} reused"
        if self.seconds is not None:
            line += f", {self.seconds:.2f} s"
        detail = " ".join(self._detail().split())  # one line, whatever the messages hold
        return f"{line} — {detail}" if detail else line

    def _detail(self) -> str:
        error = self.error or {}
        node = error.get("node_id")
        where = f"{node} ({error.get('node_type') or self._type_of(node)})" if node else ""
        if self.status == "interrupted":
            if self.stopping is not None:
                return f"at {where}, which is still stopping: {STOPPING_NOTE}; the next run waits for it"
            return f"at {where}" if where else ""
        if "exception_message" in error:
            message = str(error["exception_message"]).strip().splitlines() or [""]
            cause = f"{_short_type(error.get('exception_type'))}: {message[0]}"[:200]
            return f"{where} raised {cause}" if where else cause
        if "message" in error:  # the prompt was invalid
            details = str(error.get("details") or "")
            text = str(error["message"]) + (f" ({details})" if details else "")
            problems = len(self.node_errors or {})
            if problems:
                text += f" ({problems} node{'s' if problems > 1 else ''} with errors)"
            return text[:200]
        return ""

    def _type_of(self, node_id: str | None) -> str:
        return self.prompt.get(node_id, {}).get("class_type", "?") if node_id else "?"

    @property
    def seeds(self) -> dict[str, dict]:
        """Node id -> {input: value}: the seeds this run's seed policies gave it."""
        return self.job.seeds

    def __getattr__(self, name: str):
        if name in (
            "executed",
            "cached",
            "reused",
            "outputs",
            "error",
            "node_errors",
            "timings",
            "trace",
            "prompt_id",
        ):
            if self.result is None:
                return (
                    None
                    if name in ("error", "trace", "prompt_id")
                    else type(getattr(_EMPTY, name))()
                )
            return getattr(self.result, name)
        raise AttributeError(name)

    def has(self, handle: Output | Node | str) -> bool:
        foreign = isinstance(handle, (Output, Node)) and self.graph not in (None, handle.graph)
        if foreign:  # another graph's node with the same id is not this one
            return False
        trace = self.trace
        return trace is not None and node_id_of(handle) in trace.keys

    @at_user_frame
    def __getitem__(self, handle: Output | Node | str) -> Any:
        """The value of a node output (an ``Output``), or of all a node's outputs."""
        node_id = node_id_of(handle, self.graph)
        key = self.trace.keys.get(node_id) if self.trace is not None else None
        if key is None:
            raise KeyError(f"{node_id} was not part of this run")
        values = self._wb.executor.cached_output(key)
        if values is None:
            if not self._return_types(node_id) and node_id in self.outputs:
                return self.outputs[node_id]  # an output node without outputs: its ui is its value
            if node_id not in self.executed | self.cached | set(self.reused or ()):
                raise KeyError(
                    f"{node_id} was not computed by this run: what needs it came from the cache "
                    "(the disk cache keeps output nodes' results); run with outputs=[it] to get it"
                )
            raise KeyError(
                f"{node_id}'s result is no longer cached (evicted, or the cache strategy keeps nothing)"
            )
        if isinstance(handle, Output):
            return values[handle.slot]
        return values[0] if len(values) == 1 else values

    # --- display ---

    def _return_types(self, node_id: str) -> tuple:
        node_type = self._wb.registry.get(self.prompt.get(node_id, {}).get("class_type"))
        return node_type.return_types if node_type is not None else ()

    def __repr__(self) -> str:
        lines = [f"<RunResult {self.status}: {self.summary.partition(': ')[2]}>"]
        error = self.error or {}
        if "exception_message" in error:
            lines.append(
                f"  error in {error.get('node_id')}: {error['exception_message']}".rstrip()
            )
        elif "message" in error:  # the prompt was invalid
            lines.append(f"  invalid: {error['message']} {error.get('details', '')}".rstrip())
        for node_id, entry in (self.node_errors or {}).items():
            for problem in entry.get("errors", []):
                lines.append(f"  {node_id}: {problem['message']} ({problem['details']})")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return summary_html(self.summary) + "\n" + self.body_html()

    def body_html(self) -> str:
        """The table, any error and the previews (``_repr_html_`` without the summary line)."""
        parts = [self._table_html(), self._error_html(), self._previews_html()]
        return "\n".join(p for p in parts if p)

    def _rows(self):
        """(node id, type, state, seconds) per node: the prompt's, then those an expansion added."""
        error_node = (
            (self.error or {}).get("node_id") if self.status in ("error", "interrupted") else None
        )
        executed, cached, reused = self.executed, self.cached, self.reused
        added = sorted((executed | cached | reused) - self.prompt.keys())
        for node_id in [*self.prompt, *added]:
            if node_id == error_node:
                if self.status == "error":
                    state = "error"
                else:
                    state = "stopping" if self.stopping == node_id else "interrupted"
            elif node_id in executed:
                state = "executed"
            elif node_id in cached:
                state = "cached"
            elif node_id in reused:
                state = "reused"  # the same as a node computed earlier in this run
            elif node_id in (self.node_errors or {}):
                state = "invalid"
            else:
                state = "not run"
            seconds = (self.timings or {}).get(node_id)
            node = self.prompt.get(node_id)
            if node is None:
                class_type = "(expanded)"
            else:
                class_type = node.get("class_type", "?") if isinstance(node, dict) else "?"
            yield node_id, class_type, state, seconds

    def _table_html(self) -> str:
        colours = {
            "executed": "#2e7d32",
            "cached": "#1565c0",
            "reused": "#1565c0",
            "error": "#c62828",
            "invalid": "#c62828",
            "interrupted": "#ef6c00",
            "stopping": "#ef6c00",
            "not run": "#757575",
        }
        rows = "".join(
            f"<tr><td>{html.escape(str(n))}</td><td>{html.escape(str(t))}</td>"
            f"<td style='color:{colours.get(s, '#000')}'>{s}</td>"
            f"<td style='text-align:right'>{'' if sec is None else f'{sec * 1000:.1f} ms'}</td></tr>"
            for n, t, s, sec in self._rows()
        )
        return (
            "<table><thead><tr><th>node</th><th>type</th><th>status</th><th>time</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )

    def _error_html(self) -> str:
        parts = []
        if self.error:
            e = self.error
            if "exception_message" in e:
                trace = html.escape("".join(e.get("traceback") or []))
                parts.append(
                    f"<div style='color:#c62828'><b>{html.escape(str(e.get('node_id')))} "
                    f"({html.escape(str(e.get('node_type')))})</b>: "
                    f"{html.escape(str(e.get('exception_type')))}: {html.escape(str(e['exception_message']))}</div>"
                    f"<details><summary>traceback</summary><pre>{trace}</pre></details>"
                )
            elif "message" in e:
                parts.append(
                    f"<div style='color:#c62828'>{html.escape(e['message'])}: "
                    f"{html.escape(str(e.get('details', '')))}</div>"
                )
        for node_id, entry in (self.node_errors or {}).items():
            for problem in entry.get("errors", []):
                parts.append(
                    f"<div style='color:#c62828'>{html.escape(node_id)}: "
                    f"{html.escape(problem['message'])} ({html.escape(str(problem['details']))})</div>"
                )
        return "\n".join(parts)

    def _previews_html(self) -> str:
        with folders.using(self._wb.folders):  # the ui names files in this session's folders
            return self._previews_in_folders()

    def _previews_in_folders(self) -> str:
        shown = 0
        parts = []
        outputs = self.outputs or {}
        # In graph order, not in the order nodes finished: the same graph shows the same way.
        for node_id, ui in sorted(outputs.items(), key=lambda item: self._order(item[0])):
            if not isinstance(ui, dict):
                continue
            for image in _items(ui.get("images")):
                if shown >= MAX_PREVIEWS:
                    break
                png = _ui_image_png(image)
                if png:
                    parts.append(_figure(node_id, _img_tag(png)))
                    shown += 1
            for text in _items(ui.get("text")):
                parts.append(_figure(node_id, f"<pre>{html.escape(_text(text))}</pre>"))
        for node_id in self._terminal_nodes():
            if node_id in (self.outputs or {}) or shown >= MAX_PREVIEWS:
                continue
            try:
                value = self[node_id]
            except KeyError:
                continue
            types = self._return_types(node_id)
            values = value if len(types) > 1 else (value,)
            for kind, one in zip(types, values, strict=False):
                parts.append(_figure(node_id, preview_html(one, kind)))
                shown += 1
        return (
            "<div style='display:flex;flex-wrap:wrap;gap:8px'>" + "".join(parts) + "</div>"
            if parts
            else ""
        )

    def _order(self, node_id: str) -> int:
        if not hasattr(self, "_positions"):
            self._positions = {n: i for i, n in enumerate(self.prompt)}
        return self._positions.get(node_id, len(self._positions))

    def _terminal_nodes(self) -> list[str]:
        """Nodes whose values nothing in the prompt consumes (and the requested outputs)."""
        wanted = set(terminal_nodes(self.prompt)) | set(self.job.targets or [])
        done = self.executed | self.cached
        return [n for n in self.prompt if n in done and n in wanted]


class _Empty:
    executed: set = set()
    cached: set = set()
    reused: set = set()
    outputs: dict = {}
    node_errors: dict = {}
    timings: dict = {}


_EMPTY = _Empty()


def summary_html(line: str) -> str:
    """A summary line as HTML: its first word (the outcome) in bold."""
    word, _, rest = line.partition(":")
    return f"<div class='workbench-result'><b>{html.escape(word)}</b>:{html.escape(rest)}</div>"


def _short_type(name: Any) -> str:
    """An exception's class name without its module (``builtins.ValueError`` -> ``ValueError``)."""
    return str(name).rsplit(".", 1)[-1] if name else "error"


def preview_html(value: Any, kind: Any = None) -> str:
    """HTML for a value of node type ``kind``: an IMAGE or MASK inline (with its summary),
    a PIL image inline, a tensor summarised, anything else by repr.

    Never raises: what fails to convert (a ``__repr__`` that raises, a tensor
    that cannot reach the CPU) is shown by its type name only.
    """
    try:
        png = _value_png(value, kind)
    except Exception:
        png = None
    try:
        summary = summarize(value)
    except Exception:
        summary = f"<{type(value).__name__}>"
    text = f"<pre>{html.escape(summary)}</pre>"
    return _img_tag(png) + text if png is not None else text


def image_tag(value: Any) -> str | None:
    """An inline ``<img>`` of a progress preview, sized as a result's previews: an IMAGE
    tensor (its first image), a PIL image, or ComfyUI's ``(format, image, max_size)``
    tuple; None for anything else. Never raises."""
    if isinstance(value, tuple) and len(value) >= 2:
        value = value[1]
    try:
        png = _value_png(value, "IMAGE")
    except Exception:
        return None
    return _img_tag(png) if png is not None else None


def summarize(value: Any) -> str:
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None and dtype is not None:
        text = f"{type(value).__name__} shape={list(shape)} dtype={dtype}"
        try:
            if value.numel() if hasattr(value, "numel") else value.size:
                text += f" min={float(value.min()):.4g} max={float(value.max()):.4g}"
        except Exception:
            pass
        return text
    text = repr(value)
    return text if len(text) <= 2000 else text[:2000] + "…"


def _value_png(value: Any, kind: Any) -> bytes | None:
    from PIL import Image

    if isinstance(value, Image.Image):
        return _png(value)
    shape = getattr(value, "shape", None)
    if shape is None or not hasattr(value, "detach") or not value.is_floating_point():
        return None
    if kind == "IMAGE" and len(shape) == 4 and shape[-1] in (1, 3, 4):  # [B,H,W,C]: the first
        array = value[0]
    elif kind == "MASK" and len(shape) == 3:  # [B,H,W]
        array = value[0][..., None]
    else:
        return None
    pixels = (array.detach().float().clamp(0, 1) * 255).round().byte().cpu().numpy()
    if pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    return _png(Image.fromarray(pixels))


def _items(value: Any) -> list:
    """A ui entry's items: a list or tuple as is, None as none, anything else as one item."""
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _text(value: Any) -> str:
    try:
        text = str(value)
    except Exception:  # a value whose __str__ fails must not stop the display
        text = f"<{type(value).__name__}>"
    return text[:2000]


def _ui_image_png(image: Any) -> bytes | None:
    """The thumbnail of a ui image (``{"filename", "subfolder", "type"}``), or None.

    None (or no) ``subfolder`` is the folder's top, None (or no) ``type`` the
    output folder; anything else that is not a string names no file.
    """
    from PIL import Image

    if not isinstance(image, dict):
        return None
    filename = image.get("filename")
    subfolder = image.get("subfolder") or ""
    kind = image.get("type") or "output"
    if not (isinstance(filename, str) and isinstance(subfolder, str) and isinstance(kind, str)):
        return None
    try:
        path = folders.resolve(os.path.join(subfolder, filename), kind)
    except ValueError:  # an unknown folder, a path outside it
        return None
    try:
        with Image.open(path) as picture:
            return _png(picture)
    except Exception:  # missing, unreadable or not an image: PIL raises many types
        return None


def _png(picture) -> bytes:
    """A PNG of ``picture`` whose longest side is between MIN_PREVIEW and THUMBNAIL px."""
    from PIL import Image

    longest = max(picture.size)
    if longest < MIN_PREVIEW:  # a 24×16 image shown at 24×16 is unreadable: enlarge it, sharply
        factor = -(-MIN_PREVIEW // longest)
        picture = picture.resize(
            (picture.width * factor, picture.height * factor), Image.Resampling.NEAREST
        )
    else:
        picture = picture.copy()
        picture.thumbnail((THUMBNAIL, THUMBNAIL))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def _img_tag(png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f"<img src='data:image/png;base64,{data}' style='image-rendering:pixelated;max-width:{THUMBNAIL}px'/>"


def _figure(node_id: str, body: str) -> str:
    return f"<figure style='margin:0'>{body}<figcaption>{html.escape(str(node_id))}</figcaption></figure>"
