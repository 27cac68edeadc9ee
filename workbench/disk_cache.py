"""The disk cache: node outputs that survive a kernel restart, keyed by signature.

``DiskCache`` is the executor's ``PersistentStore`` (``engine/executor.py``):
the executor asks it when its memory cache misses and gives it every entry it
stores. It never raises for a value it cannot keep: ``put`` declines (logged at
debug level) and the node simply recomputes next time.

Layout: one file per entry, named by its signature key (the engine's hex
digests), ``<directory>/<key[:2]>/<key>.<ext>``:

- ``.json``: every output value (and the ``ui``) is JSON-able;
- ``.png``: a single PIL image plus JSON-able values (these in a text chunk),
  so the picture opens in any viewer;
- ``.safetensors``: anything with tensors (numpy arrays go as tensors), or
  several images (PNG bytes in a uint8 tensor), in ONE safetensors file whose
  metadata holds the structure of the outputs and the JSON-able values;
- ``.pickle.safetensors``: the same, plus values only pickle can store (uint8
  tensors of pickle bytes); written and read only by a cache made with
  ``allow_pickle=True`` (another cache treats them as absent). Unpickling runs
  code: only share such a directory with people you trust.

The structure is JSON in which containers and stored objects are tagged
objects (``{"$": "tuple", "v": [...]}``, ``{"$": "tensor", "name": "t0"}``), so
lists, tuples, dicts with any hashable keys, and one tensor appearing twice
come back as they were. ``torch.load`` is never used. Files are not versioned:
a future incompatible layout must use new names (this version ignores files
it does not recognise, and does not count them in the budget).

Integrity: each entry carries a 32-bit checksum, verified on every read; a
file that fails it, is truncated, or cannot be parsed is reported with
``warnings.warn`` (a notebook shows it), deleted, and ``get`` returns None so
the node recomputes. The checksum is a CRC32 chained over the structure JSON,
each tensor's name, dtype and shape, and a digest of its bytes: the wrapping
int64 sum of each 64 KiB block (torch reduces that at memory speed, about
15 ms for 256 MB on two cores, where ``zlib.crc32`` takes 65 ms and
blake2b 360 ms), with the block sums themselves CRC'd so that misplaced blocks
count too. It detects any change within one 8-byte word, truncation, zeroed or
swapped blocks; it is not a cryptographic hash (deliberate, compensating edits
in one block would pass). JSON and PNG entries use a CRC32 of the JSON text and
of the decoded pixels.

Atomic writes: an entry is written to ``<name>.<pid>.<random>.tmp`` in the
same directory, fsynced, then ``os.replace``d onto its name. A process killed
mid-write leaves only the temporary file, which is never read and is deleted
when a cache opens the directory (if its writer process is gone, or it is a
day old). The directory itself is not fsynced: after a power cut a new entry
may be missing, never corrupt (and the checksum would catch a torn file).

``put`` returns once the file is written (the page cache holds it); the fsync
and the rename run on a committer thread, in order, so the executor does not
wait for the device (an fsync costs ~75 ms for 256 MB, ~4 ms for a tiny
file). Meanwhile the entry counts as present, ``get`` waits for it, and
``flush()`` waits for all. The thread is not a daemon: a normal exit finishes
the commits first; a killed process leaves temporary files, cleaned as above.
The data is read from the values during ``put`` itself, so a node that later
mutates its inputs in place cannot change what was stored.

State (guarded by ``_lock``; writing and reading files happen outside it, the
renames and deletions that change what the index describes inside it):

- ``_index``: key → ``_Item(path, size, stamp)``, least recently used first.
  Built at start by listing the directory, ordered by file mtime, so
  ``contains`` is a dict lookup. ``get`` moves the key to the end and touches the file's mtime,
  so the order survives restarts. A key missing from it is looked for on disk
  (``_adopt``): one existence check per file name the key can have (``.json``,
  ``.png``, ``.safetensors``, and ``.pickle.safetensors`` with
  ``allow_pickle``), so an entry another process (a second kernel on the same
  data directory) wrote since is found, indexed as the most recently used,
  and verified on read like any other. A miss costs those checks: about 7 µs
  in all (``bench/cache.py``), where the index alone took 0.4 µs.
- ``_jobs``, ``_pending``: written entries queued for fsync and rename, and
  per key how many; ``_committed`` (a condition on ``_lock``) is notified as
  each one lands; ``_committer`` is the thread while it runs.
- ``_total``: the sum of the indexed sizes. After a ``put`` the least recently
  used entries are deleted until it is within ``budget_bytes``; an entry larger
  than the whole budget is not kept.

Values read back are memory-mapped copy-on-write from the file (safetensors'
default): writing to them never changes the file, and the cache itself never
modifies a file in place. Blind spots: another process truncating an entry
file in place while its value is in use would crash this one (SIGBUS);
several processes sharing a directory each keep their own index and budget
(one may delete the other's entries: the other then recomputes). An entry
adopted from another process counts in this one's budget from then on (a
lookup deletes nothing: the next ``put`` evicts down to the budget).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import json
import logging
import os
import pickle
import re
import stat
import sys
import threading
import time
import warnings
import zlib
from collections import OrderedDict, deque
from pathlib import Path
from typing import Any, NamedTuple

import torch
from PIL import Image, PngImagePlugin
from safetensors import safe_open
from safetensors.torch import save_file

from engine import CacheEntry

__all__ = ["DiskCache"]

log = logging.getLogger(__name__)

BLOCK = 1 << 16  # bytes per summed block of tensor data
STALE_TEMP_SECONDS = 24 * 3600
# PNG keeps these modes' pixels exactly ("I" would lose values over 16 bits).
PNG_MODES = frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I;16"})
_ENTRY_NAME = re.compile(r"^([0-9a-f]{8,128})(\.pickle\.safetensors|\.safetensors|\.png|\.json)$")
_HEX_KEY = re.compile(r"^[0-9a-f]{8,128}$")
_JSON_PREFIX = '{"crc32":"%08x","entry":'
_JSON_HEAD = re.compile(rb'^\{"crc32":"([0-9a-f]{8})","entry":')


class CorruptEntry(Exception):
    """An entry file that fails its checksum or cannot be parsed."""


class Unstorable(Exception):
    """A value this cache declines to store."""


class Unusable(Exception):
    """A sound entry this cache cannot load (it needs pickle, or a device this machine lacks)."""


class _Item(NamedTuple):
    path: str
    size: int
    stamp: int  # unique per indexing: tells a re-written entry from the one read


class _Job(NamedTuple):
    name: str
    temp: Path
    final: Path
    size: int  # -1: the write failed, drop it


class DiskCache:
    """A persistent, content-addressed output store; see the module docstring.

    ``budget_bytes``: total size kept (least recently used entries go first).
    ``allow_pickle``: also store (and load) values only pickle can handle.
    ``fsync``: flush each entry to the device before it becomes visible (on a
    background thread; without it a crash of the machine, not of the process,
    can lose recent entries, which are then recomputed).
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        budget_bytes: int = 10 * 2**30,
        allow_pickle: bool = False,
        *,
        fsync: bool = True,
    ):
        self.directory = Path(directory)
        self.budget_bytes = budget_bytes
        self.allow_pickle = allow_pickle
        self.fsync = fsync
        self._lock = threading.Lock()
        self._declined: set[str] = set()  # node types whose outputs could not be stored
        self._index: OrderedDict[str, _Item] = OrderedDict()
        self._total = 0
        self._stamps = itertools.count()
        self._jobs: deque[_Job] = deque()  # written entries waiting for fsync and rename
        self._pending: dict[str, int] = {}  # key -> its jobs in ``_jobs`` or being committed
        self._committed = threading.Condition(self._lock)
        self._committer: threading.Thread | None = None
        self.directory.mkdir(parents=True, exist_ok=True)
        self._root = str(self.directory) + os.sep  # ``_adopt`` builds paths on each miss
        self._extensions = (".safetensors", ".png", ".json") + (
            (".pickle.safetensors",) if allow_pickle else ()
        )
        self._scan()

    # --- the PersistentStore protocol ---

    def contains(self, key: str) -> bool:
        name = _file_key(key)
        if name is None:
            return False
        return name in self._index or name in self._pending or self._adopt(name) is not None

    def get(self, key: str) -> CacheEntry | None:
        name = _file_key(key)
        if name is None:
            return None
        with self._lock:
            while name in self._pending:
                self._committed.wait()
            item = self._index.get(name)
        if item is None:
            item = self._adopt(name)
            if item is None:
                return None
        identity = None
        try:
            with open(item.path, "rb") as f:
                identity = _identity(os.fstat(f.fileno()))
                entry = self._read(item.path, f)
        except FileNotFoundError:  # deleted meanwhile (evicted, or by another process)
            with self._lock:
                self._forget(name, item)
            return None
        except Unusable as exc:
            log.debug("disk cache: not using %s: %s", item.path, exc)
            return None
        except Exception as exc:
            self._discard_corrupt(name, item, identity, exc)
            return None
        with self._lock:
            if self._index.get(name) == item:
                self._index.move_to_end(name)
        with contextlib.suppress(OSError):
            os.utime(item.path)  # the LRU order survives restarts
        return entry

    def put(self, key: str, entry: CacheEntry, node_type: str) -> None:
        name = _file_key(key)
        if name is None:  # a "!" key: never looked up again (see _file_key)
            log.debug("disk cache: not storing %s: its key is never looked up again", node_type)
            return
        try:
            payload = _encode(entry, node_type, self.allow_pickle)
        except Exception as exc:  # Unstorable, or e.g. a list that contains itself
            log.debug("disk cache: not storing %s: %s", node_type, exc)
            if node_type not in self._declined:  # once per node type: the user should know
                self._declined.add(node_type)
                warnings.warn(
                    f"the disk cache does not keep the outputs of {node_type} ({exc}); they are "
                    "cached in memory only (allow_pickle=True keeps other types)",
                    stacklevel=2,
                )
            return
        final = self.directory / name[:2] / (name + payload.ext)
        try:
            temp, size = self._write_temp(final, payload)
        except Exception:
            log.debug("disk cache: could not write %s", final, exc_info=True)
            return
        if size > self.budget_bytes:
            _unlink(str(temp))
            log.debug("disk cache: not storing %s: larger than the whole budget", node_type)
            return
        job = _Job(name, temp, final, size)
        if not self.fsync:
            self._commit(job)
            return
        # The value is on disk (in the page cache); the node's caller need not wait
        # for the device: fsync and rename on the committer thread.
        with self._lock:
            self._jobs.append(job)
            self._pending[name] = self._pending.get(name, 0) + 1
            if self._committer is None:
                self._committer = threading.Thread(
                    target=self._commit_jobs, name="workbench-disk-cache", daemon=False
                )
                self._committer.start()

    def flush(self) -> None:
        """Wait until every entry given to ``put`` is durable and visible on disk."""
        with self._lock:
            while self._pending:
                self._committed.wait()

    # --- housekeeping ---

    @property
    def total_bytes(self) -> int:
        return self._total

    def __len__(self) -> int:
        return len(self._index)

    def clear(self) -> None:
        """Delete every entry."""
        self.flush()
        with self._lock:
            for item in self._index.values():
                _unlink(item.path)
            self._index.clear()
            self._total = 0

    def _scan(self) -> None:
        found: list[tuple[float, str, _Item]] = []
        now = time.time()
        for sub in _listdir(self.directory):
            if not (sub.is_dir() and len(sub.name) == 2):
                continue
            for f in _listdir(sub):
                if f.name.endswith(".tmp"):
                    if _stale_temp(f, now):
                        _unlink(f.path)
                    continue
                match = _ENTRY_NAME.match(f.name)
                if match is None or (match[2].startswith(".pickle") and not self.allow_pickle):
                    continue
                try:
                    st = f.stat()
                except OSError:
                    continue
                found.append((st.st_mtime, match[1], _Item(f.path, st.st_size, 0)))
        found.sort(key=lambda t: t[0])
        for _, name, item in found:
            old = self._index.pop(name, None)
            if old is not None:  # two files for one key: the newer one wins
                self._total -= old.size
                _unlink(old.path)
            self._index[name] = item._replace(stamp=next(self._stamps))
            self._total += item.size

    def _adopt(self, name: str) -> _Item | None:
        """The entry ``name`` if its file exists though the index lacks it (another
        process wrote it), now indexed as the most recently used; else None."""
        found: tuple[float, str, int] | None = None
        stem = f"{self._root}{name[:2]}{os.sep}{name}"
        for ext in self._extensions:
            path = stem + ext
            if not os.access(path, os.F_OK):  # half a failing stat's cost: no exception
                continue
            try:
                st = os.stat(path)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and (found is None or st.st_mtime > found[0]):
                found = (st.st_mtime, path, st.st_size)  # two files for one key: the newer
        if found is None:
            return None
        with self._lock:
            item = self._index.get(name)
            if item is None:  # else indexed meanwhile, by a put or another lookup of ours
                item = self._index[name] = _Item(found[1], found[2], next(self._stamps))
                self._total += item.size
            return item

    def _commit_jobs(self) -> None:
        """The committer thread: fsync and rename written entries, in order; ends when idle.

        Not a daemon: an interpreter exiting normally first finishes the commits.
        """
        while True:
            with self._lock:
                if not self._jobs:
                    self._committer = None
                    return
                job = self._jobs.popleft()
            try:
                _fsync(job.temp)
            except OSError:
                log.debug("disk cache: could not fsync %s", job.temp, exc_info=True)
                job = job._replace(size=-1)  # not committed
            try:
                self._commit(job)
            except Exception:  # keep committing the others; flush() must not hang
                log.exception("disk cache: could not commit %s", job.final)

    def _commit(self, job: _Job) -> None:
        """Make the written temporary file the entry ``job.name``, then evict down to the budget.

        Renames and deletions happen under the lock, so an eviction never deletes
        a file that a concurrent ``put`` has just renamed into place.
        """
        name = job.name
        with self._lock:
            try:
                self._rename_and_evict(job)
            finally:
                if name in self._pending:
                    self._pending[name] -= 1
                    if not self._pending[name]:
                        del self._pending[name]
                    self._committed.notify_all()

    def _rename_and_evict(self, job: _Job) -> None:
        """See ``_commit``; call with the lock held."""
        name, temp, final, size = job
        if size < 0:
            _unlink(str(temp))
            return
        try:
            os.replace(temp, final)
        except OSError:
            _unlink(str(temp))
            log.debug("disk cache: could not rename %s", temp, exc_info=True)
            return
        old = self._index.pop(name, None)
        if old is not None:
            self._total -= old.size
            if old.path != str(final):
                _unlink(old.path)
        self._index[name] = _Item(str(final), size, next(self._stamps))
        self._total += size
        while self._total > self.budget_bytes:
            _, gone = self._index.popitem(last=False)
            self._total -= gone.size
            _unlink(gone.path)

    def _forget(self, name: str, item: _Item) -> None:
        """Drop ``item`` from the index if it is still the entry ``name``; call with the lock held."""
        if self._index.get(name) == item:
            del self._index[name]
            self._total -= item.size

    def _discard_corrupt(self, name: str, item: _Item, identity, exc: Exception) -> None:
        warnings.warn(
            f"disk cache: ignoring corrupt entry {item.path} ({type(exc).__name__}: {exc}); "
            "the node will be recomputed",
            RuntimeWarning,
            stacklevel=3,
        )
        with self._lock:
            self._forget(name, item)
            try:
                # Delete only the file that was read: a concurrent put may have replaced it.
                if identity is None or _identity(os.stat(item.path)) == identity:
                    os.unlink(item.path)
            except OSError:
                pass

    # --- files ---

    def _write_temp(self, final: Path, payload: _Payload) -> tuple[Path, int]:
        """Write ``payload`` to a temporary file beside ``final``; its path and size."""
        final.parent.mkdir(exist_ok=True)
        temp = final.with_name(f"{final.name}.{os.getpid()}.{os.urandom(6).hex()}.tmp")
        try:
            payload.write(temp)
            return temp, os.path.getsize(temp)
        except BaseException:
            _unlink(str(temp))
            raise

    def _read(self, path: str, f) -> CacheEntry:
        if path.endswith(".safetensors"):
            return _read_safetensors(path, self.allow_pickle)
        if path.endswith(".png"):
            return _read_png(f)
        return _read_json(f.read())


# --- encoding values -------------------------------------------------------------------


class _Payload(NamedTuple):
    ext: str
    write: Any  # (path) -> None


class _Packer:
    """Turns output values into JSON with references to tensors, images and pickles."""

    def __init__(self, allow_pickle: bool):
        self.allow_pickle = allow_pickle
        self.tensors: dict[str, torch.Tensor] = {}
        self.images: dict[str, Image.Image] = {}
        self.pickles: dict[str, bytes] = {}
        self._names: dict[int, str] = {}  # id(tensor or image) -> its name (shared values)
        self._storages: set[int] = set()
        self.devices: dict[str, str] = {}  # tensor name -> its device, if not the CPU
        self._keep: list[Any] = []  # keeps ids valid while packing

    def pack(self, value: Any) -> Any:
        kind = type(value)
        if value is None or kind in (str, bool, int):
            return value
        if kind is float:
            return value  # NaN and infinities too: our reader accepts them
        if kind is list or kind is tuple:
            return {"$": kind.__name__, "v": [self.pack(v) for v in value]}
        if kind is dict:
            return {"$": "dict", "v": [[self.pack(k), self.pack(v)] for k, v in value.items()]}
        if isinstance(value, torch.Tensor) and _safetensors_dtype(value):
            return {"$": "tensor", "name": self._tensor(value)}
        numpy = sys.modules.get("numpy")
        if numpy is not None and kind is numpy.ndarray:
            try:
                tensor = torch.from_numpy(numpy.ascontiguousarray(value))
            except (TypeError, ValueError):
                tensor = None
            if tensor is not None and _safetensors_dtype(tensor):
                return {"$": "ndarray", "name": self._tensor(tensor, id(value))}
        if numpy is not None and isinstance(value, (numpy.number, numpy.bool_)):  # e.g. a .mean()
            tensor = torch.from_numpy(numpy.asarray(value).reshape(1))
            if _safetensors_dtype(tensor):
                self._keep.append(tensor)
                return {"$": "npscalar", "name": self._tensor(tensor)}
        if isinstance(value, Image.Image) and value.mode in PNG_MODES:
            return {"$": "image", "name": self._image(value)}
        return {"$": "pickle", "name": self._pickle(value)}

    def _tensor(self, tensor: torch.Tensor, ident: int | None = None) -> str:
        ident = id(tensor) if ident is None else ident
        name = self._names.get(ident)
        if name is not None:
            return name
        t = tensor.detach()
        device = str(t.device)
        if t.device.type != "cpu":
            t = t.cpu()
        # safetensors refuses tensors that share memory: store views and aliases as copies.
        storage = t.untyped_storage()
        if (
            not t.is_contiguous()
            or storage.nbytes() != t.nbytes
            or storage.data_ptr() in self._storages
        ):
            t = t.clone(memory_format=torch.contiguous_format)
        self._storages.add(t.untyped_storage().data_ptr())
        name = self._names[ident] = f"t{len(self.tensors)}"
        self.tensors[name] = t
        self._keep.append(tensor)
        if device != "cpu":
            self.devices[name] = device
        return name

    def _image(self, image: Image.Image) -> str:
        name = self._names.get(id(image))
        if name is None:
            name = self._names[id(image)] = f"i{len(self.images)}"
            self.images[name] = image
            self._keep.append(image)
        return name

    def _pickle(self, value: Any) -> str:
        if not self.allow_pickle:
            raise Unstorable(f"a {type(value).__qualname__} needs pickle (allow_pickle=False)")
        try:
            data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise Unstorable(f"a {type(value).__qualname__} cannot be pickled: {exc}") from exc
        name = f"p{len(self.pickles)}"
        self.pickles[name] = data
        return name


def _encode(entry: CacheEntry, node_type: str, allow_pickle: bool) -> _Payload:
    packer = _Packer(allow_pickle)
    outputs = packer.pack(list(entry.outputs))
    body = {"node_type": node_type, "ui": entry.ui or None, "outputs": outputs}
    if packer.devices:
        body["devices"] = packer.devices
    try:
        text = _dumps(body)
    except (TypeError, ValueError):
        if body["ui"] is None:
            raise
        log.debug("disk cache: the ui dict is not JSON-able; the entry is kept without it")
        body["ui"] = None
        text = _dumps(body)
    if not (packer.tensors or packer.images or packer.pickles):
        return _Payload(".json", lambda path: _write_json(path, text))
    if len(packer.images) == 1 and not (packer.tensors or packer.pickles):
        ((name, image),) = packer.images.items()
        return _Payload(".png", lambda path: _write_png(path, text, name, image))
    tensors = dict(packer.tensors)
    for name, image in packer.images.items():
        tensors[name] = _bytes_tensor(_png_bytes(image))
    for name, data in packer.pickles.items():
        tensors[name] = _bytes_tensor(data)
    ext = ".pickle.safetensors" if packer.pickles else ".safetensors"
    return _Payload(ext, lambda path: _write_safetensors(path, text, tensors))


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=True)


def _unpack(node: Any, refs: dict[str, Any]) -> Any:
    if type(node) is not dict:
        return node
    tag = node["$"]
    if tag == "list":
        return [_unpack(v, refs) for v in node["v"]]
    if tag == "tuple":
        return tuple(_unpack(v, refs) for v in node["v"])
    if tag == "dict":
        return {_unpack(k, refs): _unpack(v, refs) for k, v in node["v"]}
    value = refs[node["name"]]
    if tag == "ndarray":
        return value.numpy()
    if tag == "npscalar":
        return value.numpy()[0]
    return value


# --- formats ---------------------------------------------------------------------------


def _write_json(path: Path, text: str) -> None:
    data = (_JSON_PREFIX % zlib.crc32(text.encode()) + text + "}").encode()
    with open(path, "wb") as f:
        f.write(data)


def _read_json(data: bytes) -> CacheEntry:
    head = _JSON_HEAD.match(data)
    if head is None or not data.endswith(b"}"):
        raise CorruptEntry("not a cache entry")
    text = data[head.end() : -1]
    if int(head[1], 16) != zlib.crc32(text):
        raise CorruptEntry("checksum mismatch")
    return _entry(json.loads(text), {})


def _write_png(path: Path, text: str, name: str, image: Image.Image) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("workbench", text)
    info.add_text("workbench.name", name)
    info.add_text("workbench.crc32", f"{_image_crc(image, text):08x}")
    image.save(path, format="PNG", pnginfo=info)


def _read_png(f) -> CacheEntry:
    image = Image.open(f)
    image.load()
    text = image.text["workbench"]
    if int(image.text["workbench.crc32"], 16) != _image_crc(image, text):
        raise CorruptEntry("checksum mismatch")
    name = image.text["workbench.name"]
    plain = image.copy()  # an ordinary Image, holding no file
    for key in ("workbench", "workbench.name", "workbench.crc32"):
        plain.info.pop(key, None)
    return _entry(json.loads(text), {name: plain})


def _image_crc(image: Image.Image, text: str) -> int:
    crc = zlib.crc32(text.encode())
    crc = zlib.crc32(f"{image.mode}{image.size}".encode(), crc)
    return zlib.crc32(image.tobytes(), crc)


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _bytes_tensor(data: bytes) -> torch.Tensor:
    return (
        torch.frombuffer(bytearray(data), dtype=torch.uint8)
        if data
        else torch.empty(0, dtype=torch.uint8)
    )


def _write_safetensors(path: Path, text: str, tensors: dict[str, torch.Tensor]) -> None:
    metadata = {
        "workbench": text,
        "workbench.crc32": f"{_tensors_crc(text, tensors):08x}",
    }
    save_file(tensors, str(path), metadata=metadata)


def _read_safetensors(path: str, allow_pickle: bool) -> CacheEntry:
    with safe_open(path, framework="pt") as f:
        metadata = f.metadata() or {}
        tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118 (not a dict)
    text = metadata["workbench"]
    if int(metadata["workbench.crc32"], 16) != _tensors_crc(text, tensors):
        raise CorruptEntry("checksum mismatch")
    body = json.loads(text)
    refs: dict[str, Any] = {}
    for name, tensor in tensors.items():
        if name.startswith("i"):
            with Image.open(io.BytesIO(tensor.numpy().tobytes())) as image:
                refs[name] = image.copy()
        elif name.startswith("p"):
            if not allow_pickle:
                raise Unusable("this entry needs pickle (allow_pickle=False)")
            refs[name] = pickle.loads(tensor.numpy().tobytes())
        else:
            refs[name] = tensor
    for name, device in body.get("devices", {}).items():
        try:
            refs[name] = refs[name].to(device)
        except (RuntimeError, AssertionError) as exc:
            raise Unusable(f"cannot move a tensor to {device}: {exc}") from exc
    return _entry(body, refs)


def _entry(body: dict, refs: dict[str, Any]) -> CacheEntry:
    return CacheEntry(body["ui"], _unpack(body["outputs"], refs))


def _tensors_crc(text: str, tensors: dict[str, torch.Tensor]) -> int:
    crc = zlib.crc32(text.encode())
    for name in sorted(tensors):
        t = tensors[name]
        crc = zlib.crc32(f"{name}|{t.dtype}|{list(t.shape)}".encode(), crc)
        crc = _data_crc(t, crc)
    return crc


def _data_crc(tensor: torch.Tensor, crc: int) -> int:
    """Chains ``tensor``'s bytes into ``crc``: block sums at memory speed, then CRC32 of those."""
    if tensor.nbytes == 0:
        return crc
    data = tensor.reshape(-1).view(torch.uint8)
    whole = data.numel() // BLOCK * BLOCK
    if whole:
        # The int64 sums wrap: a wrapping sum is exact whatever order threads add in.
        sums = data[:whole].view(torch.int64).view(-1, BLOCK // 8).sum(dim=1)
        crc = zlib.crc32(sums.numpy().tobytes(), crc)
    if whole < data.numel():
        crc = zlib.crc32(data[whole:].numpy().tobytes(), crc)
    return crc


def _safetensors_dtype(tensor: torch.Tensor) -> bool:
    return tensor.dtype in _SAFETENSORS_DTYPES and tensor.layout == torch.strided


_SAFETENSORS_DTYPES = frozenset(
    getattr(torch, name)
    for name in (
        "bool",
        "uint8",
        "int8",
        "int16",
        "int32",
        "int64",
        "float16",
        "bfloat16",
        "float32",
        "float64",
        "float8_e4m3fn",
        "float8_e5m2",
    )
    if hasattr(torch, name)
)


# --- small helpers ---------------------------------------------------------------------


def _file_key(key: str) -> str | None:
    """The file name stem for ``key``: the key itself for the engine's hex digests."""
    if _HEX_KEY.match(key):
        return key
    if key.startswith("!"):  # "always changed" (see engine.fingerprint.changing): never hit again
        return None
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _identity(st: os.stat_result) -> tuple[int, int]:
    return (st.st_ino, st.st_dev)


def _listdir(path: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(path) as it:
            return list(it)
    except OSError:
        return []


def _stale_temp(f: os.DirEntry, now: float) -> bool:
    """A temporary file whose writer is gone (or that is too old to be in progress)."""
    try:
        if now - f.stat().st_mtime > STALE_TEMP_SECONDS:
            return True
    except OSError:
        return False
    parts = f.name.rsplit(".", 3)
    if len(parts) != 4 or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if os.name == "nt":  # os.kill would terminate the process there
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
