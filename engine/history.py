"""History: the record of every run the queue finished, bounded, optionally on disk.

A record is a JSON object (``HistoryRecord``) written when a job finishes:

- ``prompt_id``, ``number`` (the queue's submission counter), ``status`` (the
  run's: ``success``, ``error``, ``interrupted`` or ``invalid``);
- ``prompt``: the prompt exactly as that job ran it. Widget-side policies such
  as a seed's control-after-generate resolve *before* submit, so a seed that
  the policy changes afterwards is recorded as the value used, not the next one;
- ``targets`` (the partial-execution outputs, or None), ``extra_data``;
- ``outputs`` (the ui dict of each output node), ``executed`` and ``cached``
  (sorted node ids), ``timings`` (seconds per node that ran), ``error`` and
  ``node_errors`` as in ``ExecutionResult``;
- ``queued_at``, ``started_at``, ``finished_at``: millisecond timestamps.

Values that are not JSON (tensors, arbitrary objects, NaN) are replaced by
short summaries (``jsonable``), so writing a record never fails on its content.

On disk (``History(data_dir)``): ``<data_dir>/history.jsonl``, one record per
line, appended and fsync'd per record, so a crash loses at most the record
being written. Deletions append a ``{"deleted": prompt_id}`` line. Loading
skips a corrupt or truncated line with a warning, never fails, and then
rewrites the file without it. At most ``limit`` records are kept, and at most
``max_bytes`` of them as JSON (the newest record is always kept): the oldest
are dropped from memory. Once the file holds more than twice as many lines or
bytes it is compacted: rewritten from memory to a temporary file that
atomically replaces it. One process writes a data directory at a time.

``default_data_dir()`` is the data directory of a queue, a session and the
node library's folders when none is given.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import warnings
from collections import OrderedDict
from typing import Any, TypedDict

from .errors import summarize

log = logging.getLogger(__name__)

FILENAME = "history.jsonl"
DEFAULT_LIMIT = 10_000  # ComfyUI's MAXIMUM_HISTORY_SIZE
DEFAULT_MAX_BYTES = 256 * 2**20  # an auto-queue loop over a big prompt writes a lot


def default_data_dir() -> str:
    """``$WORKBENCH_DATA_DIR``, else ``.workbench`` (relative to the working directory).

    Read at each call, so a changed environment variable is followed.
    """
    return os.environ.get("WORKBENCH_DATA_DIR", ".workbench")


class HistoryRecord(TypedDict):
    prompt_id: str
    number: int
    status: str
    prompt: dict
    targets: list[str] | None
    extra_data: dict
    outputs: dict[str, dict]
    executed: list[str]
    cached: list[str]
    timings: dict[str, float]
    error: dict | None
    node_errors: dict[str, dict]
    queued_at: int
    started_at: int
    finished_at: int


class History:
    """Finished runs by prompt id, oldest first; thread-safe. See the module docstring."""

    def __init__(
        self,
        data_dir: str | os.PathLike | None = None,
        limit: int = DEFAULT_LIMIT,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ):
        if limit < 1:
            raise ValueError(f"history limit must be at least 1, not {limit}")
        if max_bytes < 1:
            raise ValueError(f"history max_bytes must be at least 1, not {max_bytes}")
        self.limit = limit
        self.max_bytes = max_bytes
        self.path = os.path.join(os.fspath(data_dir), FILENAME) if data_dir is not None else None
        self._records: OrderedDict[str, dict] = OrderedDict()
        self._sizes: dict[str, int] = {}  # prompt id -> bytes of its record's line
        self._bytes = 0  # the sum of _sizes
        self._lock = threading.Lock()  # guards the records, their sizes, the counts and the file
        self._lines = 0  # lines in the file (records and deletions), for compaction
        self._file_bytes = 0
        if self.path is not None:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            self._load()

    # --- reading ---

    def get(self, prompt_id: str) -> dict | None:
        with self._lock:
            return self._records.get(prompt_id)

    def records(self, max_items: int | None = None) -> list[dict]:
        """The records, oldest first; with ``max_items``, only the newest that many."""
        with self._lock:
            records = list(self._records.values())
        return records if max_items is None else records[-max_items:] if max_items > 0 else []

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, prompt_id: object) -> bool:
        return prompt_id in self._records

    # --- writing ---

    def append(self, record: dict) -> dict:
        """Add ``record`` (made JSON-safe) and persist it; returns the stored record.

        Never raises for a record's content; a failing disk write is reported
        with a warning and the record is kept in memory.
        """
        record = jsonable(record)
        line = _dumps(record)
        with self._lock:
            self._keep(record["prompt_id"], record, _size(line))
            if self.path is not None:
                self._write_line(line)
        return record

    def delete(self, prompt_id: str) -> bool:
        with self._lock:
            if self._forget(prompt_id) is None:
                return False
            if self.path is not None:
                self._write_line(_dumps({"deleted": prompt_id}))
            return True

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._sizes.clear()
            self._bytes = 0
            if self.path is not None:
                self._rewrite()

    def _keep(self, prompt_id: str, record: dict, size: int) -> None:
        """Add (or replace) a record as the newest, then drop the oldest past the bounds."""
        self._forget(prompt_id)
        self._records[prompt_id] = record
        self._sizes[prompt_id] = size
        self._bytes += size
        while len(self._records) > self.limit or (
            self._bytes > self.max_bytes and len(self._records) > 1
        ):
            self._forget(next(iter(self._records)))

    def _forget(self, prompt_id: str) -> dict | None:
        record = self._records.pop(prompt_id, None)
        if record is not None:
            self._bytes -= self._sizes.pop(prompt_id)
        return record

    # --- the file (all called with the lock held) ---

    def _load(self) -> None:
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return
        bad: list[int] = []
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                entry = json.loads(raw)
                if not isinstance(entry, dict):
                    raise ValueError("not an object")
                if "deleted" in entry:
                    self._forget(entry["deleted"])
                    continue
                prompt_id = entry["prompt_id"]
                if not isinstance(prompt_id, str):
                    raise ValueError("prompt_id is not a string")
            except Exception:  # bad JSON, bad encoding, nesting too deep, not a record
                bad.append(number)
                continue
            self._keep(prompt_id, entry, len(raw) + 1)  # a replay: bounds as when appended
        self._lines = len(lines)
        self._file_bytes = len(data)
        if bad:
            shown = ", ".join(map(str, bad[:5])) + (", ..." if len(bad) > 5 else "")
            warnings.warn(
                f"{self.path}: skipped {len(bad)} corrupt or truncated line(s) ({shown}); "
                "the file is rewritten without them",
                RuntimeWarning,
                stacklevel=3,
            )
        if bad or self._oversized():
            self._rewrite()

    def _oversized(self) -> bool:
        return self._lines > 2 * self.limit or self._file_bytes > 2 * self.max_bytes

    def _write_line(self, line: str) -> None:
        try:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line + "\n")
                f.flush()
                os.fsync(f.fileno())
            self._lines += 1
            self._file_bytes += _size(line)
            if self._oversized():
                self._rewrite()
        except OSError as exc:
            warnings.warn(f"could not write history to {self.path}: {exc}", RuntimeWarning, 3)

    def _rewrite(self) -> None:
        """Replace the file by the records in memory (compaction, repair, clear)."""
        tmp = f"{self.path}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                for record in self._records.values():
                    f.write(_dumps(record) + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            _fsync_dir(os.path.dirname(self.path))
            self._lines = len(self._records)
            self._file_bytes = self._bytes
        except OSError as exc:
            warnings.warn(f"could not rewrite history {self.path}: {exc}", RuntimeWarning, 3)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _size(line: str) -> int:
    """Bytes of ``line`` in the file, newline included."""
    return len(line.encode("utf-8", "surrogatepass")) + 1


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # not supported for directories on every platform
    finally:
        os.close(fd)


MAX_DEPTH = 32
MAX_TEXT = 200


def jsonable(value: Any, _depth: int = 0) -> Any:
    """``value`` with everything JSON cannot hold replaced by a readable summary.

    Dict keys become strings, tuples and sets lists, non-finite floats the
    strings ``"nan"``/``"inf"``/``"-inf"``, tensors and arrays
    ``"Tensor(shape=[...], dtype=...)"``, other objects their (shortened)
    ``repr``. Nesting deeper than ``MAX_DEPTH`` (or a cycle) is cut off.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else str(value)
    if _depth >= MAX_DEPTH:
        return summarize(value, MAX_TEXT)
    if isinstance(value, dict):
        return {_key(k): jsonable(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, _depth + 1) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [jsonable(v, _depth + 1) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    shape = getattr(value, "shape", None)
    if shape is not None and getattr(value, "dtype", None) is not None and shape != ():
        return summarize(value, MAX_TEXT)
    item = getattr(value, "item", None)  # numpy and torch scalars
    if callable(item):
        try:
            return jsonable(item(), _depth + 1)
        except Exception:
            pass
    return summarize(value, MAX_TEXT)


def _key(key: Any) -> str:
    return key if isinstance(key, str) else str(jsonable(key, MAX_DEPTH - 1))
