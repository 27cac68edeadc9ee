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
being written. Deletions append a ``{"deleted": prompt_id}`` line. Each line
starts ``{"crc":"<8 hex digits>",``: the CRC32 of the rest of the line's
bytes (as the disk cache's JSON entries), so a damaged line that still parses
is detected. A line that does not start so was written before checksums: it
is read unchecked if it holds only ``HistoryRecord`` fields (so a line whose
``"crc"`` head was damaged is not taken for one), and the file is then
rewritten with checksums. Blind spot: damage that removes exactly the whole
head passes as such an older line (its fields are still validated).
Appending first ends a last line that a crash left without its newline, so
only the cut record is lost, not the next one too.

Loading never fails: it skips and counts (``History.skipped``), all in one
warning, each line that is not JSON, fails its checksum, or is not a record:
``prompt_id`` must be a string, and every other ``HistoryRecord`` field
present must have its type. The other fields are not required, since
``append`` takes any dict with a ``prompt_id`` (the queue's records always
have them all), and does not check types. Then it rewrites the file without
the skipped lines. At most ``limit`` records are kept, and at most
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
import re
import threading
import types
import typing
import warnings
import zlib
from collections import OrderedDict
from collections.abc import Callable
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
    seeds: dict[str, dict]  # node id -> {input: value} its seed policies gave the job
    extra_data: dict
    outputs: dict[str, dict]
    executed: list[str]
    cached: list[str]
    reused: list[str]
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
        self.skipped = 0  # lines the load skipped: corrupt, truncated, or not a record
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
        record.pop("crc", None)  # the file's checksum field: a record cannot keep its own
        line = _line(record)
        with self._lock:
            self._keep(record["prompt_id"], record, len(line))
            if self.path is not None:
                self._write_line(line)
        return record

    def delete(self, prompt_id: str) -> bool:
        with self._lock:
            if self._forget(prompt_id) is None:
                return False
            if self.path is not None:
                self._write_line(_line({"deleted": prompt_id}))
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
        unchecked = False  # a line without a checksum: rewrite the file with them
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                entry, checked = _parse(raw)
            except Exception:  # bad JSON, bad encoding, nesting too deep, damaged, not a record
                bad.append(number)
                continue
            unchecked |= not checked
            if "deleted" in entry:
                self._forget(entry["deleted"])
            else:  # a replay: bounds as when appended
                self._keep(entry["prompt_id"], entry, len(raw) + 1)
        self._lines = len(lines)
        self._file_bytes = len(data)
        self.skipped = len(bad)
        if bad:
            shown = ", ".join(map(str, bad[:5])) + (", ..." if len(bad) > 5 else "")
            warnings.warn(
                f"{self.path}: skipped {len(bad)} corrupt or truncated line(s) ({shown}); "
                "the file is rewritten without them",
                RuntimeWarning,
                stacklevel=3,
            )
        if bad or unchecked or self._oversized():
            self._rewrite()

    def _oversized(self) -> bool:
        return self._lines > 2 * self.limit or self._file_bytes > 2 * self.max_bytes

    def _write_line(self, data: bytes) -> None:
        try:
            with open(self.path, "a+b") as f:
                # A crash (or a failed write) may have left the last line without its
                # newline: end it first, or this record would join it and both be lost.
                end = f.seek(0, os.SEEK_END)
                if end:
                    f.seek(end - 1)
                    if f.read(1) != b"\n":
                        data = b"\n" + data
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            self._lines += 1
            self._file_bytes += len(data)
            if self._oversized():
                self._rewrite()
        except OSError as exc:
            warnings.warn(f"could not write history to {self.path}: {exc}", RuntimeWarning, 3)

    def _rewrite(self) -> None:
        """Replace the file by the records in memory (compaction, repair, clear)."""
        tmp = f"{self.path}.tmp"
        try:
            with open(tmp, "wb") as f:
                for record in self._records.values():
                    f.write(_line(record))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            _fsync_dir(os.path.dirname(self.path))
            self._lines = len(self._records)
            self._file_bytes = self._bytes
        except OSError as exc:
            warnings.warn(f"could not rewrite history {self.path}: {exc}", RuntimeWarning, 3)


_HEAD = re.compile(rb'\{"crc":"([0-9a-f]{8})",')


def _line(entry: dict) -> bytes:
    """``entry``'s line in the file, its checksum first and its newline included.

    UTF-8, except that a lone surrogate (a str from bytes decoded with
    ``surrogateescape``), which has none, is written as its JSON escape
    ``\\udc80`` (it can only be inside a JSON string), read back as itself.
    """
    rest = _dumps(entry)[1:].encode("utf-8", "backslashreplace")  # entry is never empty
    return b'{"crc":"%08x",' % zlib.crc32(rest) + rest + b"\n"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _parse(raw: bytes) -> tuple[dict, bool]:
    """The record or deletion a file line holds, and whether it had a checksum.

    Raises ValueError if the line holds neither; see the module docstring.
    """
    head = _HEAD.match(raw)
    if head is not None and int(head[1], 16) != zlib.crc32(raw[head.end() :]):
        raise ValueError("checksum mismatch")
    entry = json.loads(raw)
    if type(entry) is not dict:
        raise ValueError("not an object")
    if head is not None:
        del entry["crc"]
    elif not entry.keys() <= _OLD_KEYS:
        raise ValueError("no checksum, and a field no older version wrote")
    if "deleted" in entry:
        if type(entry["deleted"]) is not str:
            raise ValueError("deleted is not a prompt id")
        return entry, head is not None
    if "prompt_id" not in entry:
        raise ValueError("no prompt_id")
    for name, check in _FIELD_CHECKS.items():
        if name in entry and not check(entry[name]):
            raise ValueError(f"{name} does not have its HistoryRecord type")
    return entry, head is not None


def _checker(kind: Any) -> Callable[[Any], bool]:
    """A test of whether a JSON value has the type ``kind`` (a ``HistoryRecord`` annotation).

    Built once per field: loading checks every record.
    """
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is types.UnionType:
        options = [_checker(k) for k in args]
        return lambda value: any(check(value) for check in options)
    if kind is type(None):
        return lambda value: value is None
    if kind is float:  # JSON writes 2.0 as 2.0, but a writer may give 2
        return lambda value: type(value) is float or type(value) is int
    if origin is list:
        item = _checker(args[0])
        return lambda value: type(value) is list and all(map(item, value))
    if origin is dict:  # JSON keys are strings
        item = _checker(args[1])
        return lambda value: type(value) is dict and all(map(item, value.values()))
    if origin is None and kind in (str, int, dict, list):
        return lambda value: type(value) is kind  # exactly: bool is not an int here
    # Fail at import, not by skipping every record: a new annotation needs a case here.
    raise TypeError(f"no check for the HistoryRecord annotation {kind!r}")


_FIELD_CHECKS = {
    name: _checker(kind) for name, kind in typing.get_type_hints(HistoryRecord).items()
}
# What a line written before checksums can hold: a damaged "crc" key is not one of them.
_OLD_KEYS = _FIELD_CHECKS.keys() | {"deleted"}


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
