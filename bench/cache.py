"""Disk-cache benchmarks: the figures issue 5 sets goals for.

    python bench/cache.py [--mb 256] [--repeat 3] [--dir DIR]

Sections (``main`` prints each under its own heading):

1. Cached rerun of a 1,000-node graph through ``wb.run`` (goal ≤ 50 ms end to
   end): a chain of 1,000 trivial nodes, run once, then rerun unchanged — the
   time from calling ``wb.run`` to its result (queue, worker thread,
   validation, signatures, cache lookups), best of ``--repeat``.
2. Disk-cache throughput for one float32 tensor output (256 MB by default)
   against a plain ``safetensors.torch.save_file`` / ``load_file`` of the same
   tensor (goal ≥ 0.8×). Best of ``--repeat``, in a temporary directory on the
   disk the cache would use (``--dir``).

   - write: ``DiskCache.put`` (checksum, safetensors file, then fsync and
     rename on the cache's committer thread) against ``save_file``, which does
     not fsync either; ``put`` + ``flush()`` (durable on the device) and a
     cache made with ``fsync=False`` are shown for reference.
   - read: ``DiskCache.get`` (safetensors' memory map plus the checksum pass,
     which reads every byte) against ``load_file``. ``load_file`` maps the
     file and reads nothing until the tensor is used, so it is shown alone and
     followed by one pass over the values (what the first node to use the
     tensor pays): the ratio to that is the like-for-like one. "cold" first
     drops the file's pages from the page cache (``posix_fadvise``).
3. The cost of a miss: ``DiskCache.contains`` and ``get`` of a key that no
   entry has, in a cache of 1,000 small entries (so its subfolders exist), per
   call (``timeit``, best of ``--repeat``). The engine asks ``contains`` for
   each node it will run; a miss looks for a file another process may have
   written (issue 9, defect 10). A hit in the index is shown for reference.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import timeit
from collections.abc import Callable

# Run as a script, this file's folder comes first on sys.path, and bench/engine.py
# would shadow the engine package.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]

import torch  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

from engine import CacheEntry  # noqa: E402
from workbench.disk_cache import DiskCache  # noqa: E402


def best(fn: Callable[[int], object], repeat: int, before: Callable[[int], None] | None = None):
    """The shortest of ``repeat`` timed calls ``fn(i)``; ``before(i)`` runs untimed first."""
    times = []
    for i in range(repeat):
        if before is not None:
            before(i)
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return min(times)


def drop_from_page_cache(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)  # only clean pages can be dropped
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def throughput(mb: int, repeat: int, directory: str | None) -> None:
    tensor = torch.rand(mb * 2**20 // 4)
    size = tensor.nbytes / 2**20
    with tempfile.TemporaryDirectory(dir=directory, prefix="wb-bench-cache-") as tmp:
        plain = [os.path.join(tmp, f"plain{i}.safetensors") for i in range(repeat)]
        cache = DiskCache(os.path.join(tmp, "cache"), budget_bytes=1 << 40)
        unsynced = DiskCache(os.path.join(tmp, "unsynced"), budget_bytes=1 << 40, fsync=False)
        entry = CacheEntry(None, [[tensor]])

        def key(i: int) -> str:
            return f"{i:032x}"

        def clear(i: int) -> None:
            # Each write goes to a new file, and the last round's files are gone.
            for path in plain:
                if os.path.exists(path):
                    os.unlink(path)
            cache.clear()
            unsynced.clear()

        rows = [
            ("save_file", best(lambda i: save_file({"t": tensor}, plain[i]), repeat, clear)),
            ("DiskCache.put", best(lambda i: cache.put(key(i), entry, "Bench"), repeat, clear)),
            (
                "DiskCache.put + flush (durable)",
                best(lambda i: (cache.put(key(i), entry, "Bench"), cache.flush()), repeat, clear),
            ),
            (
                "DiskCache.put, fsync=False",
                best(lambda i: unsynced.put(key(i), entry, "Bench"), repeat, clear),
            ),
        ]
        report("write", size, rows, baseline=0)

        save_file({"t": tensor}, plain[0])
        cache.put(key(0), entry, "Bench")
        cache.flush()
        path = next(p for p in cache._index.values()).path

        def check(value) -> None:
            assert torch.equal(value, tensor)

        check(cache.get(key(0)).outputs[0][0])
        warm = [
            ("load_file (maps, reads nothing)", best(lambda i: load_file(plain[0]), repeat)),
            (
                "load_file + one pass over the values",
                best(lambda i: load_file(plain[0])["t"].sum(), repeat),
            ),
            ("DiskCache.get (verified)", best(lambda i: cache.get(key(0)), repeat)),
        ]
        report("read, warm page cache", size, warm, baseline=1)

        def drop_plain(i: int) -> None:
            drop_from_page_cache(plain[0])

        def drop_entry(i: int) -> None:
            drop_from_page_cache(path)

        cold = [
            (
                "load_file + one pass over the values",
                best(lambda i: load_file(plain[0])["t"].sum(), repeat, drop_plain),
            ),
            ("DiskCache.get (verified)", best(lambda i: cache.get(key(0)), repeat, drop_entry)),
        ]
        report("read, cold (pages dropped first)", size, cold, baseline=0)


def cached_rerun(repeat: int, size: int = 1000) -> None:
    from workbench import Workbench

    with tempfile.TemporaryDirectory() as directory:
        wb = Workbench(data_dir=directory)

        @wb.node
        def bench_source(value: int = 0) -> int:
            return value

        @wb.node
        def bench_inc(x: int) -> int:
            return x + 1

        g = wb.graph()
        last = g.bench_source(value=1)
        for _ in range(size - 1):
            last = g.bench_inc(x=last)
        first = wb.run(g, outputs=[last], progress=False)
        assert first.status == "success" and len(first.executed) == size
        times = []
        for _ in range(max(repeat, 5)):
            start = time.perf_counter()
            again = wb.run(g, outputs=[last], progress=False)
            times.append(time.perf_counter() - start)
            assert again.executed == set(), "a cached rerun ran nodes"
        wb.close()
    print(
        f"  {size} nodes, cold run {len(first.executed)} executed; cached rerun: "
        f"best {min(times) * 1e3:.1f} ms, median {sorted(times)[len(times) // 2] * 1e3:.1f} ms "
        f"({min(times) / size * 1e6:.1f} µs per node)"
    )


def miss_cost(repeat: int, entries: int = 1000, calls: int = 20_000) -> None:
    with tempfile.TemporaryDirectory() as directory:
        cache = DiskCache(directory, fsync=False)
        for i in range(entries):
            cache.put(f"{i:032x}", CacheEntry(None, [[i]]), "Bench")
        absent = f"{entries * 7 + 3:032x}"
        present = f"{entries // 2:032x}"
        assert not cache.contains(absent) and cache.contains(present)
        rows = [
            ("contains(), a miss", lambda: cache.contains(absent)),
            ("get(), a miss", lambda: cache.get(absent)),
            ("contains(), a hit (reference)", lambda: cache.contains(present)),
        ]
        for name, call in rows:
            seconds = min(timeit.repeat(call, number=calls, repeat=max(repeat, 3))) / calls
            print(f"  {name:<32} {seconds * 1e6:6.2f} µs per call")


def report(title: str, mb: float, rows: list[tuple[str, float]], baseline: int) -> None:
    reference = rows[baseline][1]
    print(f"  {title}:")
    for name, seconds in rows:
        ratio = reference / seconds
        mark = "  (baseline)" if seconds is reference else f"  {ratio:5.2f}× baseline"
        print(f"    {name:<38} {seconds * 1e3:8.1f} ms {mb / seconds:9.0f} MB/s{mark}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=256, help="tensor size in MB")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where to write (default: the temp dir)")
    args = parser.parse_args()

    print("== Cached rerun of a 1,000-node graph through wb.run (goal ≤ 50 ms)")
    cached_rerun(args.repeat)
    print()

    print(f"== Disk-cache throughput, one {args.mb} MB float32 tensor (goal ≥ 0.8× safetensors)")
    print(f"  best of {args.repeat}; torch threads: {torch.get_num_threads()}")
    throughput(args.mb, args.repeat, args.dir)
    print()

    print("== A disk-cache miss: contains() and get() of a key no entry has")
    miss_cost(args.repeat)


if __name__ == "__main__":
    main()
