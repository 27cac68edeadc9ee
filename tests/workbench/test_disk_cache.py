"""The disk cache: values come back as they went in, or not at all.

Round trips per format, the executor serving a node from disk in a new
session, and the faults: a writer killed mid-write, a flipped byte, a
truncated file. A damaged entry is never returned: the node recomputes.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine import CacheEntry, Executor, NodeOutput, NodeRegistry, Tensor, node
from workbench.disk_cache import DiskCache

ROOT = Path(__file__).resolve().parents[2]
KEY = "0123456789abcdef0123456789abcdef"


def key(n: int) -> str:
    return f"{n:032x}"


def entry_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and not p.name.endswith(".tmp"))


def round_trip(tmp_path, outputs, ui=None, **options):
    cache = DiskCache(tmp_path, **options)
    cache.put(KEY, CacheEntry(ui, outputs), "Node")
    assert cache.contains(KEY)
    cache.flush()
    # A fresh cache on the same directory: nothing comes from memory.
    return DiskCache(tmp_path, **options).get(KEY)


def assert_same(a, b):
    assert type(a) is type(b)
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert (
            torch.equal(a.reshape(-1).view(torch.uint8), b.reshape(-1).view(torch.uint8))
            if a.numel()
            else True
        )
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    elif isinstance(a, Image.Image):
        assert (a.mode, a.size, a.tobytes()) == (b.mode, b.size, b.tobytes())
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, float) and a != a:
        assert b != b
    else:
        assert a == b


# --- formats ---------------------------------------------------------------------------

DTYPES = [
    torch.float32,
    torch.float16,
    torch.bfloat16,
    torch.float64,
    torch.int8,
    torch.uint8,
    torch.int16,
    torch.int32,
    torch.int64,
    torch.bool,
    torch.float8_e4m3fn,
    torch.float8_e5m2,
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_tensors_of_every_dtype_round_trip_through_one_safetensors_file(tmp_path, dtype):
    # 70,001 elements: several checksum blocks and a ragged tail.
    t = (torch.randn(70_001) * 50).to(dtype)
    got = round_trip(tmp_path, [[t]])
    assert_same(got.outputs, [[t]])
    assert [p.suffix for p in entry_files(tmp_path)] == [".safetensors"]


@pytest.mark.parametrize(
    "tensor",
    [
        torch.tensor(3.5),
        torch.empty(0, 4),
        torch.arange(12.0).view(3, 4).t(),
        torch.arange(10)[2:5],
    ],
    ids=["scalar", "empty", "transposed view", "slice"],
)
def test_odd_tensors_round_trip(tmp_path, tensor):
    got = round_trip(tmp_path, [[tensor]])
    assert_same(got.outputs, [[tensor.contiguous()]])


def test_nested_structures_of_tensors_and_values_keep_their_shape(tmp_path):
    a, b = torch.rand(2, 3), torch.ones(4, dtype=torch.bfloat16)
    latent = {"samples": a, "noise_mask": None, "batch_index": [0, 1]}
    outputs = [[latent], [(a, b, {"deep": (b, "x", 2.5)})], [{1: "int key", (1, 2): a}]]
    got = round_trip(tmp_path, outputs, ui={"text": ["hello"]})
    assert_same(got.outputs, outputs)
    assert got.ui == {"text": ["hello"]}
    # One tensor stored once comes back as one object.
    assert got.outputs[0][0]["samples"] is got.outputs[1][0][0]
    assert len(entry_files(tmp_path)) == 1


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P", "1", "I;16"])
def test_a_pil_image_is_stored_as_png(tmp_path, mode):
    image = Image.effect_noise((17, 9), 60).convert("RGB").convert(mode)
    if mode == "I;16":
        image = Image.frombytes("I;16", (17, 9), os.urandom(17 * 9 * 2))
    got = round_trip(tmp_path, [[image], ["caption", 3]])
    assert_same(got.outputs, [[image], ["caption", 3]])
    (path,) = entry_files(tmp_path)
    assert path.suffix == ".png"
    assert Image.open(path).size == (17, 9)  # an ordinary PNG: any viewer opens it


def test_several_images_and_tensors_share_one_safetensors_file(tmp_path):
    red, blue = Image.new("RGB", (5, 4), "red"), Image.new("L", (3, 3), 7)
    outputs = [[red, blue], [torch.zeros(2)]]
    got = round_trip(tmp_path, outputs)
    assert_same(got.outputs, outputs)
    assert [p.suffix for p in entry_files(tmp_path)] == [".safetensors"]


def test_json_values_are_stored_as_json(tmp_path):
    outputs = [
        ["text ✓ \ud800", 7, 2**100, -0.0, float("inf"), float("nan"), True, None],
        [["a", "list"], ("a", "tuple"), {"k": [1, {"n": None}]}],
    ]
    got = round_trip(tmp_path, outputs, ui={"images": [{"filename": "a.png", "type": "temp"}]})
    assert_same(got.outputs, outputs)
    assert got.ui == {"images": [{"filename": "a.png", "type": "temp"}]}
    (path,) = entry_files(tmp_path)
    assert path.suffix == ".json"


def test_numpy_arrays_round_trip_as_tensors(tmp_path):
    array = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    got = round_trip(tmp_path, [[array]])
    assert_same(got.outputs, [[array]])


def test_numpy_scalars_round_trip(tmp_path):
    outputs = [[np.float32(1.5), np.int64(-3), np.bool_(True)]]
    got = round_trip(tmp_path, outputs)
    assert got.outputs == outputs
    assert [type(v) for v in got.outputs[0]] == [np.float32, np.int64, np.bool_]


def test_other_types_need_allow_pickle(tmp_path, caplog):
    outputs = [[Fraction(1, 3), torch.ones(2)]]
    with caplog.at_level(logging.DEBUG, logger="workbench.disk_cache"):
        declined = DiskCache(tmp_path / "safe")
        with pytest.warns(UserWarning, match="does not keep the outputs of Fractions"):
            declined.put(KEY, CacheEntry(None, outputs), "Fractions")
    assert not declined.contains(KEY) and entry_files(tmp_path) == []
    assert "needs pickle" in caplog.text

    got = round_trip(tmp_path / "opted-in", outputs, allow_pickle=True)
    assert_same(got.outputs, outputs)
    # A cache that does not allow pickle never loads such an entry.
    other = DiskCache(tmp_path / "opted-in")
    assert not other.contains(KEY) and other.get(KEY) is None


def test_unpicklable_values_are_declined_without_raising(tmp_path):
    cache = DiskCache(tmp_path, allow_pickle=True)
    with pytest.warns(UserWarning, match="Lambda") as warned:
        cache.put(KEY, CacheEntry(None, [[lambda: 1]]), "Lambda")
        cache.put(key(3), CacheEntry(None, [[lambda: 2]]), "Lambda")  # warned once per type
    assert len(warned) == 1
    with pytest.warns(UserWarning, match="Lock"):
        cache.put(key(2), CacheEntry(None, [[threading.Lock()]]), "Lock")
    assert len(cache) == 0 and entry_files(tmp_path) == []


def test_a_list_that_contains_itself_is_declined_without_raising(tmp_path):
    loop: list = []
    loop.append(loop)
    cache = DiskCache(tmp_path, allow_pickle=True)
    with pytest.warns(UserWarning, match="does not keep the outputs of Loop"):
        cache.put(KEY, CacheEntry(None, [[loop]]), "Loop")
    assert len(cache) == 0


def test_empty_and_aliased_tensors_round_trip(tmp_path):
    base = torch.arange(6.0)
    outputs = [[torch.empty(0), torch.empty(0, 3), base, base.view(2, 3), base[:0]]]
    got = round_trip(tmp_path, outputs)
    assert_same(got.outputs, [[t.contiguous() for t in outputs[0]]])


def test_a_ui_that_is_not_json_is_dropped_and_the_outputs_kept(tmp_path):
    got = round_trip(tmp_path, [[1]], ui={"preview": [torch.zeros(1)]})
    assert got.ui is None and got.outputs == [[1]]


def test_always_changed_keys_are_not_stored(tmp_path):
    cache = DiskCache(tmp_path)
    cache.put("!" + "ab" * 16, CacheEntry(None, [[1]]), "Random")
    assert len(cache) == 0 and entry_files(tmp_path) == []


def test_an_entry_is_present_at_once_while_its_commit_is_pending(tmp_path):
    cache = DiskCache(tmp_path)
    value = torch.arange(1000.0)
    cache.put(KEY, CacheEntry(None, [[value]]), "Node")
    assert cache.contains(KEY)
    assert torch.equal(cache.get(KEY).outputs[0][0], value)  # waits for the commit
    assert [p.suffix for p in entry_files(tmp_path)] == [".safetensors"]


def test_entries_are_content_addressed_by_key(tmp_path):
    cache = DiskCache(tmp_path)
    cache.put(KEY, CacheEntry(None, [[1]]), "One")
    cache.flush()
    assert entry_files(tmp_path) == [tmp_path / KEY[:2] / f"{KEY}.json"]
    assert cache.get(key(1)) is None and not cache.contains(key(1))


# --- through the executor --------------------------------------------------------------

calls: list[int] = []


@node
def expensive(seed: int = 0) -> Tensor:
    calls.append(seed)
    return torch.full((8, 8), float(seed))


@node(output=True)
def report(x: Tensor) -> None:
    return NodeOutput(ui={"sum": [float(x.sum())]})


class Peek:
    """An output node that always runs (like a preview), so it reads its input from the cache."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("TENSOR",)}}

    RETURN_TYPES = ()
    FUNCTION = "peek"
    OUTPUT_NODE = True

    @classmethod
    def IS_CHANGED(cls, x):
        return float("nan")

    def peek(self, x):
        return {"ui": {"sum": [float(x.sum())]}}


def registry() -> NodeRegistry:
    reg = NodeRegistry()
    reg.register(expensive)
    reg.register(report)
    reg.register(Peek, name="Peek")
    return reg


PROMPT = {
    "make": {"class_type": "expensive", "inputs": {"seed": 3}},
    "show": {"class_type": "report", "inputs": {"x": ["make", 0]}},
}
PEEK = {
    "make": {"class_type": "expensive", "inputs": {"seed": 3}},
    "peek": {"class_type": "Peek", "inputs": {"x": ["make", 0]}},
}


def run_in_new_session(directory, prompt=PROMPT):
    """A fresh executor (as after a kernel restart) on the disk cache at ``directory``."""
    calls.clear()
    store = DiskCache(directory)
    r = Executor(registry(), store=store).execute(prompt)
    store.flush()  # as the kernel does when it exits
    assert r.ok, r.error
    return r, list(calls)


def test_a_new_session_serves_the_expensive_node_from_disk(tmp_path):
    first, ran = run_in_new_session(tmp_path)
    assert ran == [3] and "make" in first.executed

    second, ran = run_in_new_session(tmp_path)
    assert ran == []
    assert "make" in second.cached
    assert second.outputs["show"] == {"sum": [3.0 * 64]}


def test_a_node_that_always_runs_reads_its_input_from_disk(tmp_path):
    run_in_new_session(tmp_path, PEEK)
    r, ran = run_in_new_session(tmp_path, PEEK)
    assert ran == [] and r.executed == {"peek"} and "make" in r.cached
    assert r.outputs["peek"] == {"sum": [3.0 * 64]}


# --- faults ----------------------------------------------------------------------------


def flip_byte(offset: int):
    def damage(path: Path):
        data = bytearray(path.read_bytes())
        data[offset] ^= 0x01
        path.write_bytes(bytes(data))

    return damage


def truncate(path: Path):
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size - 7)


@pytest.mark.parametrize(
    "damage",
    [flip_byte(-1), flip_byte(-200), flip_byte(30), truncate],
    ids=["last byte flipped", "data byte flipped", "header byte flipped", "truncated"],
)
def test_a_damaged_entry_warns_and_the_node_recomputes(tmp_path, damage):
    run_in_new_session(tmp_path, PEEK)
    (path,) = [p for p in entry_files(tmp_path) if p.suffix == ".safetensors"]  # the tensor
    damage(path)

    with pytest.warns(RuntimeWarning, match="corrupt entry"):
        r, ran = run_in_new_session(tmp_path, PEEK)
    assert ran == [3] and "make" in r.executed
    assert r.outputs["peek"] == {"sum": [3.0 * 64]}
    # The damaged file was replaced by a good one: the next session is served from disk.
    _, ran = run_in_new_session(tmp_path, PEEK)
    assert ran == []


@pytest.mark.parametrize(
    "outputs", [[[1, "two"]], [[Image.new("RGB", (4, 4), "red")]], [[torch.arange(9.0)]]]
)
@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_every_format_detects_damage(tmp_path, outputs, damage):
    cache = DiskCache(tmp_path)
    cache.put(KEY, CacheEntry(None, outputs), "Node")
    cache.flush()
    (path,) = entry_files(tmp_path)
    data = bytearray(path.read_bytes())
    if damage == "flip":
        for offset in range(len(data)):  # every single byte, one at a time
            flipped = bytearray(data)
            flipped[offset] ^= 0x10
            path.write_bytes(bytes(flipped))
            assert_damaged(tmp_path, path, outputs)
    else:
        for size in (0, 1, len(data) // 2, len(data) - 1):
            path.write_bytes(bytes(data[:size]))
            assert_damaged(tmp_path, path, outputs)


def assert_damaged(directory, path, outputs):
    import warnings

    cache = DiskCache(directory)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = cache.get(KEY)
    if got is not None:  # a flip the format ignores (e.g. PNG ancillary data) changed nothing
        assert_same(got.outputs, outputs)
        return
    assert any("corrupt entry" in str(w.message) for w in caught)
    assert not path.exists() and not cache.contains(KEY)


WRITER = textwrap.dedent(
    """
    import sys, torch
    from engine import CacheEntry
    from workbench.disk_cache import DiskCache

    cache = DiskCache(sys.argv[1])
    print("ready", flush=True)
    for n in range(1000):
        value = torch.full((16 * 2**20,), float(n))  # 64 MB per entry
        cache.put(f"{n:032x}", CacheEntry({"n": [n]}, [[value]]), "Big")
    """
)


def test_a_writer_killed_mid_write_leaves_no_corrupt_entry(tmp_path):
    killed_mid_write = 0
    for attempt in range(6):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 20
        while not list(tmp_path.rglob("*.tmp")) and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(0.003 * attempt)  # kill at different points of the write
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        killed_mid_write += bool(list(tmp_path.rglob("*.tmp")))

        cache = DiskCache(tmp_path)  # "start again"
        assert not list(tmp_path.rglob("*.tmp")), "the dead writer's temporary file is cleaned"
        for n in range(1000):
            if cache.contains(key(n)):
                got = cache.get(key(n))
                assert got is not None, "a complete entry always verifies"
                assert got.ui == {"n": [n]}
                assert torch.equal(got.outputs[0][0], torch.full((16 * 2**20,), float(n)))
        if killed_mid_write:
            break
    assert killed_mid_write, "the writer was never caught mid-write"


def test_temporary_files_are_never_read_and_only_dead_writers_ones_are_deleted(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (tmp_path / "01").mkdir()
    live = tmp_path / "01" / f"{key(1)}.json.{os.getpid()}.abc.tmp"
    stale = tmp_path / "01" / f"{key(2)}.json.{gone.pid}.abc.tmp"
    for path in (live, stale):
        path.write_text("{}")
    cache = DiskCache(tmp_path)
    assert not cache.contains(key(1)) and not cache.contains(key(2))
    assert live.exists() and not stale.exists()


# --- budget ----------------------------------------------------------------------------


def put_sized(cache: DiskCache, n: int, nbytes: int = 40_000) -> None:
    cache.put(key(n), CacheEntry(None, [[torch.zeros(nbytes // 4)]]), "Block")
    cache.flush()


def test_the_least_recently_used_entries_are_evicted_over_budget(tmp_path):
    cache = DiskCache(tmp_path, budget_bytes=130_000)  # room for three entries
    for n in (1, 2, 3):
        put_sized(cache, n)
    assert cache.get(key(1)) is not None  # 1 is now the most recently used
    put_sized(cache, 4)
    assert [cache.contains(key(n)) for n in (1, 2, 3, 4)] == [True, False, True, True]
    put_sized(cache, 5)
    assert [cache.contains(key(n)) for n in (1, 2, 3, 4, 5)] == [True, False, False, True, True]
    assert cache.total_bytes <= 130_000
    assert cache.total_bytes == sum(p.stat().st_size for p in entry_files(tmp_path))


def test_the_use_order_survives_a_restart(tmp_path):
    cache = DiskCache(tmp_path, budget_bytes=130_000)
    for n in (1, 2, 3):
        put_sized(cache, n)
    # mtime is the persisted use order; set it explicitly (file times are coarse).
    now = time.time()
    for n, age in ((1, 10), (2, 30), (3, 20)):
        (path,) = (tmp_path / key(n)[:2]).glob(key(n) + ".*")
        os.utime(path, (now - age, now - age))
    restarted = DiskCache(tmp_path, budget_bytes=130_000)
    put_sized(restarted, 4)
    assert [restarted.contains(key(n)) for n in (1, 2, 3, 4)] == [True, False, True, True]


def test_an_entry_larger_than_the_budget_is_not_kept_and_evicts_nothing(tmp_path):
    cache = DiskCache(tmp_path, budget_bytes=100_000)
    put_sized(cache, 1)
    put_sized(cache, 2, nbytes=400_000)
    assert cache.contains(key(1)) and not cache.contains(key(2))
    assert len(entry_files(tmp_path)) == 1


@pytest.mark.parametrize("fsync", [False, True])
def test_concurrent_writers_and_readers_keep_the_index_true(tmp_path, fsync):
    cache = DiskCache(tmp_path, budget_bytes=400_000, fsync=fsync)
    errors: list[BaseException] = []

    def work(worker: int):
        try:
            for i in range(60):
                n = (worker * 7 + i) % 25
                if i % 2:
                    put_sized(cache, n, nbytes=20_000 + 4 * n)
                else:
                    got = cache.get(key(n))
                    assert got is None or got.outputs[0][0].numel() == 5_000 + n
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert cache.total_bytes <= 400_000
    assert cache.total_bytes == sum(p.stat().st_size for p in entry_files(tmp_path))
    assert len(cache) == len(entry_files(tmp_path))


# --- two caches (two kernels) on one directory ------------------------------------------


@pytest.mark.parametrize(
    "outputs",
    [[[1, "two"]], [[Image.new("RGB", (4, 4), "red")]], [[torch.arange(9.0)]]],
    ids=["json", "png", "safetensors"],
)
def test_an_entry_another_cache_wrote_is_found_on_a_miss(tmp_path, outputs):
    mine, other = DiskCache(tmp_path), DiskCache(tmp_path)  # both index the empty directory
    assert not mine.contains(KEY) and mine.get(KEY) is None
    other.put(KEY, CacheEntry({"n": [1]}, outputs), "Node")
    other.flush()

    assert mine.contains(KEY)
    got = mine.get(KEY)
    assert got is not None and got.ui == {"n": [1]}
    assert_same(got.outputs, outputs)
    (path,) = entry_files(tmp_path)
    assert len(mine) == 1 and mine.total_bytes == path.stat().st_size  # now in its index


def test_get_finds_an_entry_another_cache_wrote_without_contains_first(tmp_path):
    mine, other = DiskCache(tmp_path), DiskCache(tmp_path)
    other.put(KEY, CacheEntry(None, [[7]]), "Node")
    other.flush()
    assert mine.get(KEY).outputs == [[7]]


def test_a_damaged_entry_another_cache_wrote_is_discarded_as_any(tmp_path):
    mine, other = DiskCache(tmp_path), DiskCache(tmp_path)
    other.put(KEY, CacheEntry(None, [[torch.arange(9.0)]]), "Node")
    other.flush()
    (path,) = entry_files(tmp_path)
    flip_byte(-1)(path)

    assert mine.contains(KEY)  # found; verified when read
    with pytest.warns(RuntimeWarning, match="corrupt entry"):
        assert mine.get(KEY) is None
    assert not path.exists() and not mine.contains(KEY) and len(mine) == 0


def test_a_miss_adopts_no_temporary_file_and_no_entry_it_may_not_read(tmp_path):
    mine = DiskCache(tmp_path)
    trusting = DiskCache(tmp_path, allow_pickle=True)
    trusting.put(key(1), CacheEntry(None, [[Fraction(1, 3)]]), "F")
    trusting.flush()
    assert [p.name for p in entry_files(tmp_path)] == [f"{key(1)}.pickle.safetensors"]
    (tmp_path / key(2)[:2]).mkdir(exist_ok=True)
    (tmp_path / key(2)[:2] / f"{key(2)}.json.{os.getpid()}.abc.tmp").write_text("{}")
    for n in (1, 2):
        assert not mine.contains(key(n)) and mine.get(key(n)) is None
    assert len(mine) == 0


WORKBENCH_WRITER = textwrap.dedent(
    """
    import sys
    from workbench import Workbench

    wb = Workbench(data_dir=sys.argv[1])
    g = wb.graph()
    image = g.EmptyImage(width=8, height=8, batch_size=1, color=0xFF0000)
    inverted = g.ImageInvert(image=image)
    r = wb.run(g, outputs=[inverted], progress=False)
    assert r.executed == {"EmptyImage_1", "ImageInvert_1"}, r
    wb.close()  # flushes the disk cache
    """
)


def test_a_session_is_served_what_a_session_in_another_process_computed(tmp_path):
    from workbench import Workbench

    wb = Workbench(data_dir=tmp_path)  # indexes its (empty) disk cache now
    try:
        subprocess.run(
            [sys.executable, "-c", WORKBENCH_WRITER, str(tmp_path)],
            cwd=ROOT,
            check=True,
            timeout=120,
        )
        g = wb.graph()
        image = g.EmptyImage(width=8, height=8, batch_size=1, color=0xFF0000)
        inverted = g.ImageInvert(image=image)
        r = wb.run(g, outputs=[inverted], progress=False)
        assert r.executed == set() and r.cached == {"EmptyImage_1", "ImageInvert_1"}
        assert float(r[inverted][0, 0, 0, 0]) == 0.0
    finally:
        wb.close()
