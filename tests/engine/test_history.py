"""History: what a record holds, persistence across a restart, corruption, bounds."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import warnings
import zlib
from unittest import mock

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import Executor, History, NodeOutput, PromptQueue, node
from engine.history import FILENAME, jsonable

from .queue_nodes import TIMEOUT, make_registry, marked

pytestmark = pytest.mark.usefixtures("reset_queue_nodes")


def record(prompt_id: str, **fields) -> dict:
    return {"prompt_id": prompt_id, "status": "success", "prompt": {}, **fields}


def lines_of(path) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


@node(output=True)
def preview(x: int) -> int:
    """Its ui holds a tensor and a NaN: not JSON."""
    return NodeOutput(x, ui={"images": [torch.zeros(1, 4, 4, 3)], "score": [float("nan")]})


@pytest.fixture
def registry():
    registry = make_registry()
    registry.register(preview)
    return registry


@pytest.fixture
def queues(registry):
    made = []

    def make(data_dir=None, **kwargs) -> PromptQueue:
        q = PromptQueue(Executor(registry), data_dir=data_dir, **kwargs)
        made.append(q)
        return q

    yield make
    for q in made:
        q.close()


# --- what a record holds --------------------------------------------------------------


def test_a_record_holds_the_run(queues):
    q = queues()
    (job,) = q.submit(marked("a", 5), extra_data={"client": "test"})
    r = job.result(TIMEOUT)
    (rec,) = q.history()
    assert rec is job.record
    assert rec["prompt_id"] == job.id and rec["number"] == job.number
    assert rec["status"] == "success"
    assert rec["prompt"] == marked("a", 5)
    assert rec["targets"] is None and rec["extra_data"] == {"client": "test"}
    assert rec["outputs"] == {"m": {"tag": ["a"], "x": [5]}}
    assert rec["executed"] == ["m", "v"] and rec["cached"] == []
    assert set(rec["timings"]) == {"v", "m"} and rec["timings"] == r.timings
    assert rec["error"] is None and rec["node_errors"] == {}
    assert rec["queued_at"] <= rec["started_at"] <= rec["finished_at"]


def test_a_failed_run_records_its_error(queues):
    q = queues()
    prompt = {"v": {"class_type": "value", "inputs": {"v": 0}}}
    prompt["f"] = {"class_type": "fail", "inputs": {"x": ["v", 0]}}
    q.submit(prompt)[0].result(TIMEOUT)
    (rec,) = q.history()
    assert rec["status"] == "error"
    assert rec["error"]["node_id"] == "f"
    assert rec["error"]["exception_message"] == "boom"
    assert rec["executed"] == ["f", "v"]  # the node that raised ran (as in ComfyUI)


def test_each_job_of_a_batch_records_the_seed_it_used(queues):
    """Control-after-generate resolves before submit: the record has the value used."""
    q = queues()
    seed = iter([41, 42, 43])
    jobs = q.submit(lambda: marked("seed", next(seed)), number=3)
    for job in jobs:
        job.result(TIMEOUT)
    assert [r["prompt"]["v"]["inputs"]["v"] for r in q.history()] == [41, 42, 43]
    assert [r["outputs"]["m"]["x"] for r in q.history()] == [[41], [42], [43]]


def test_values_json_cannot_hold_are_summarized(queues, tmp_path):
    q = queues(tmp_path)
    prompt = {"v": {"class_type": "value", "inputs": {"v": 1}}}
    prompt["p"] = {"class_type": "preview", "inputs": {"x": ["v", 0]}}
    assert q.submit(prompt)[0].result(TIMEOUT).status == "success"
    (rec,) = q.history()
    assert rec["outputs"]["p"] == {
        "images": ["Tensor(shape=[1, 4, 4, 3], dtype=torch.float32)"],
        "score": ["nan"],
    }
    written = json.loads(lines_of(tmp_path / FILENAME)[0])
    del written["crc"]
    assert written == rec


def test_jsonable():
    class Thing:
        def __repr__(self):
            return "Thing()"

    loop: list = []
    loop.append(loop)
    value = {
        1: (1, 2.5, math.inf),
        "set": {3, 1, 2},
        "scalar": torch.tensor(7),
        "tensor": torch.ones(2, 3, dtype=torch.float16),
        "thing": Thing(),
        "long": "x" * 10,
        "loop": loop,
        "none": None,
        "flag": True,
    }
    safe = jsonable(value)
    json.dumps(safe, allow_nan=False)  # really JSON
    assert safe["1"] == [1, 2.5, "inf"]
    assert safe["set"] == [1, 2, 3]
    assert safe["scalar"] == 7
    assert safe["tensor"] == "Tensor(shape=[2, 3], dtype=torch.float16)"
    assert safe["thing"] == "Thing()"
    assert safe["none"] is None and safe["flag"] is True


# --- on disk --------------------------------------------------------------------------


def test_history_is_in_memory_by_default(queues, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    q = queues()
    q.submit(marked("a"))[0].result(TIMEOUT)
    assert len(q.history()) == 1
    assert os.listdir(tmp_path) == []


def test_history_survives_a_new_queue_on_the_same_data_directory(queues, tmp_path):
    q = queues(tmp_path / "data")
    jobs = [q.submit(marked(t, i))[0] for i, t in enumerate("abc")]
    for job in jobs:
        job.result(TIMEOUT)
    before = q.history()
    q.close()

    restarted = queues(tmp_path / "data")
    assert restarted.history() == before
    assert [r["prompt_id"] for r in restarted.history()] == [j.id for j in jobs]
    (later,) = restarted.submit(marked("d"))
    later.result(TIMEOUT)
    assert later.number > max(j.number for j in jobs)  # numbering goes on
    assert len(lines_of(tmp_path / "data" / FILENAME)) == 4


def test_each_record_is_fsynced(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    history = History(tmp_path)
    history.append(record("a"))
    history.append(record("b"))
    assert len(synced) == 2


def test_a_corrupt_line_is_skipped_with_a_warning(tmp_path):
    path = tmp_path / FILENAME
    good = [record("a"), record("b"), record("c")]
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(good[0]) + "\n")
        f.write("{this is not json\n")
        f.write(json.dumps(good[1]) + "\n")
        f.write("[1, 2]\n")  # JSON, but not a record
        f.write(json.dumps(good[2]) + "\n")
        f.write(json.dumps(record("d"))[:25])  # a crash mid-write: truncated, no newline

    with pytest.warns(
        RuntimeWarning, match=r"skipped 3 corrupt or truncated line\(s\) \(2, 4, 6\)"
    ):
        history = History(tmp_path)
    assert [r["prompt_id"] for r in history.records()] == ["a", "b", "c"]

    history.append(record("e"))  # appending goes on cleanly
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # repaired: no warning the next time
        reloaded = History(tmp_path)
    assert [r["prompt_id"] for r in reloaded.records()] == ["a", "b", "c", "e"]


def test_an_unreadable_file_is_never_fatal(tmp_path):
    (tmp_path / FILENAME).write_bytes(b"\xff\xfe\x00garbage\n\n")
    with pytest.warns(RuntimeWarning, match="skipped 1"):
        history = History(tmp_path)
    assert history.records() == []


def test_history_is_bounded_and_the_file_compacted(tmp_path):
    history = History(tmp_path, limit=5)
    for i in range(23):
        history.append(record(f"p{i}"))
        assert len(lines_of(tmp_path / FILENAME)) <= 10  # never past twice the bound
    newest = [f"p{i}" for i in range(18, 23)]
    assert [r["prompt_id"] for r in history.records()] == newest
    assert [r["prompt_id"] for r in History(tmp_path, limit=5).records()] == newest
    assert [r["prompt_id"] for r in history.records(max_items=2)] == newest[-2:]


def test_the_default_bound_is_comfyuis(queues):
    assert queues().history_store.limit == 10_000


def test_delete_and_clear_persist(tmp_path):
    history = History(tmp_path)
    for name in "abc":
        history.append(record(name))
    assert history.delete("b") is True
    assert history.delete("b") is False
    assert [r["prompt_id"] for r in History(tmp_path).records()] == ["a", "c"]
    history.clear()
    assert len(history) == 0
    assert History(tmp_path).records() == []


def test_a_record_appended_again_replaces_the_old_one(tmp_path):
    history = History(tmp_path)
    history.append(record("a", status="error"))
    history.append(record("b"))
    history.append(record("a", status="success"))
    assert [(r["prompt_id"], r["status"]) for r in History(tmp_path).records()] == [
        ("b", "success"),
        ("a", "success"),
    ]


def test_history_persists_by_default_in_the_data_dir(registry, data_dir):
    q = PromptQueue(Executor(registry))  # no data_dir: $WORKBENCH_DATA_DIR (see conftest)
    (job,) = q.submit(marked("d", 1))
    job.result(TIMEOUT)
    q.close()
    assert len(lines_of(data_dir / FILENAME)) == 1
    again = PromptQueue(Executor(registry))
    assert [r["prompt_id"] for r in again.history()] == [job.id]
    again.close()
    memory_only = PromptQueue(Executor(registry), data_dir=None)
    assert memory_only.history() == [] and memory_only.history_store.path is None
    memory_only.close()


def test_history_is_bounded_in_bytes_too(tmp_path):
    """An auto-queue loop over a big prompt must not grow the history without end."""
    big = {"prompt": {str(i): {"class_type": "X", "inputs": {"v": "x" * 100}} for i in range(30)}}
    History(tmp_path / "probe").append(record("p0", **big))
    size = (tmp_path / "probe" / FILENAME).stat().st_size  # one record's line
    budget = 3 * size + 10  # three records
    history = History(tmp_path, max_bytes=budget)
    for i in range(20):
        history.append(record(f"p{i}", **big))
        assert (tmp_path / FILENAME).stat().st_size <= 2 * budget + size
    newest = [f"p{i}" for i in range(17, 20)]
    assert [r["prompt_id"] for r in history.records()] == newest
    assert [r["prompt_id"] for r in History(tmp_path, max_bytes=budget).records()] == newest
    # A smaller budget keeps fewer; a record over the whole budget is still kept.
    # (Each on a copy of the file: one process writes a data directory at a time.)
    for smaller in (size + 1, 1):
        copy = tmp_path / f"copy{smaller}"
        copy.mkdir()
        shutil.copy(tmp_path / FILENAME, copy / FILENAME)
        assert [r["prompt_id"] for r in History(copy, max_bytes=smaller).records()] == ["p19"]
    history.delete("p19")
    assert [r["prompt_id"] for r in History(tmp_path, max_bytes=budget).records()] == newest[:2]


# --- damage that still parses, and crashes mid-line ---------------------------------------


def cut_before_the_final_newline(path) -> None:
    """A crash after the record's bytes reached the disk, before its newline did."""
    data = path.read_bytes()
    assert data.endswith(b"\n")
    path.write_bytes(data[:-1])


def test_a_record_appended_after_a_line_cut_before_its_newline_keeps_both(tmp_path):
    history = History(tmp_path)
    history.append(record("a"))
    history.append(record("b"))
    cut_before_the_final_newline(tmp_path / FILENAME)

    restarted = History(tmp_path)  # "b" is whole JSON: nothing to skip
    restarted.append(record("c"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reloaded = History(tmp_path)
    assert [r["prompt_id"] for r in reloaded.records()] == ["a", "b", "c"]
    assert reloaded.skipped == 0


def test_a_record_appended_after_a_cut_line_loses_only_the_cut_one(tmp_path):
    """A write that failed part way (a full disk, a killed writer) leaves a partial line."""
    history = History(tmp_path)
    history.append(record("a"))
    with open(tmp_path / FILENAME, "ab") as f:
        f.write(json.dumps(record("cut")).encode()[:20])
    history.append(record("b"))
    with pytest.warns(RuntimeWarning, match="skipped 1"):
        reloaded = History(tmp_path)
    assert [r["prompt_id"] for r in reloaded.records()] == ["a", "b"]
    assert reloaded.skipped == 1


def queue_record(prompt_id: str, number: int) -> dict:
    """A record with every field, as the queue writes it."""
    return {
        "prompt_id": prompt_id,
        "number": number,
        "status": "success",
        "prompt": marked("a", number),
        "targets": ["m"],
        "extra_data": {},
        "outputs": {"m": {"x": [number]}},
        "executed": ["m", "v"],
        "cached": [],
        "timings": {"m": 0.25, "v": 1},
        "error": None,
        "node_errors": {},
        "queued_at": 1000,
        "started_at": 1001,
        "finished_at": 1002,
    }


def with_crc(entry: dict) -> str:
    """``entry``'s line with the checksum the module docstring defines."""
    rest = json.dumps(entry, separators=(",", ":"))[1:]
    return f'{{"crc":"{zlib.crc32(rest.encode()):08x}",' + rest


MISTYPED = {
    "number": [None, "7", [1], 1.5, True],
    "prompt_id": [None, 7, ["x"]],
    "status": [None, 1],
    "prompt": [[], "x"],
    "targets": ["m", [1]],
    "outputs": [[], {"m": [1]}],
    "executed": [None, "mv", [1]],
    "timings": [[], {"m": "fast"}, {"m": None}],
    "error": ["boom"],
    "node_errors": [{"m": "bad"}],
    "queued_at": [None, 1.5, "1000"],
}


@pytest.mark.parametrize(
    "field,value",
    [(f, v) for f, values in MISTYPED.items() for v in values],
    ids=lambda v: repr(v),
)
@pytest.mark.parametrize("crc", ["without crc", "with a matching crc"])
def test_a_record_with_a_mistyped_field_is_skipped_and_counted(tmp_path, queues, field, value, crc):
    good = [queue_record("a", 1), queue_record("c", 3)]
    bad = {**queue_record("b", 2), field: value}
    line = json.dumps(bad) if crc == "without crc" else with_crc(bad)
    with open(tmp_path / FILENAME, "w", encoding="utf-8") as f:
        f.write(json.dumps(good[0]) + "\n" + line + "\n" + json.dumps(good[1]) + "\n")

    with pytest.warns(RuntimeWarning, match=r"skipped 1 .*\(2\)"):
        q = queues(tmp_path)  # the queue starts: its numbering reads every record
    assert [r["prompt_id"] for r in q.history()] == ["a", "c"]
    assert q.history_store.skipped == 1
    (job,) = q.submit(marked("d"))
    assert job.number == 4 and job.result(TIMEOUT).status == "success"


def test_json_infinity_as_a_number_is_skipped(tmp_path, queues):
    with open(tmp_path / FILENAME, "w", encoding="utf-8") as f:
        f.write('{"prompt_id": "x", "number": 1e400}\n')
    with pytest.warns(RuntimeWarning, match="skipped 1"):
        q = queues(tmp_path)
    assert q.history() == [] and q.history_store.skipped == 1
    assert q.submit(marked("a"))[0].number == 0


def test_each_line_carries_a_checksum_of_its_record(tmp_path):
    history = History(tmp_path)
    stored = history.append(queue_record("a", 1))
    history.delete("a")
    written, deleted = lines_of(tmp_path / FILENAME)
    assert "crc" not in stored  # the checksum lives in the file only
    for line in (written, deleted):
        rest = line[len('{"crc":"00000000",') :]
        assert line == f'{{"crc":"{zlib.crc32(rest.encode()):08x}",' + rest
    assert json.loads("{" + written[len('{"crc":"00000000",') :]) == stored


@pytest.mark.parametrize(
    "old,new",
    [
        ('"number":2', '"number":3'),
        ('"finished_at":1002', '"finished_at":1003'),
        ('"m":0.25', '"m":0.35'),
    ],
)
def test_a_digit_flipped_inside_a_stored_record_is_detected(tmp_path, old, new):
    history = History(tmp_path)
    for n in (1, 2, 3):
        history.append(queue_record(f"p{n}", n))
    path = tmp_path / FILENAME
    lines = lines_of(path)
    assert old in lines[1]
    lines[1] = lines[1].replace(old, new, 1)
    json.loads(lines[1])  # still parses, still well typed
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    with pytest.warns(RuntimeWarning, match=r"skipped 1 .*\(2\)"):
        reloaded = History(tmp_path)
    assert [r["prompt_id"] for r in reloaded.records()] == ["p1", "p3"]
    assert reloaded.skipped == 1


def test_a_damaged_deletion_line_is_skipped(tmp_path):
    history = History(tmp_path)
    for name in ("a", "b"):
        history.append(record(name))
    history.delete("a")
    path = tmp_path / FILENAME
    path.write_text(path.read_text(encoding="utf-8").replace('"deleted":"a"', '"deleted":"b"'))
    with pytest.warns(RuntimeWarning, match="skipped 1"):
        reloaded = History(tmp_path)
    assert [r["prompt_id"] for r in reloaded.records()] == ["a", "b"]


def test_lines_written_before_checksums_are_read_and_the_file_gets_them(tmp_path):
    path = tmp_path / FILENAME
    path.write_text(
        json.dumps(queue_record("a", 1))
        + "\n"
        + json.dumps({"deleted": "a"})
        + "\n"
        + json.dumps(queue_record("b", 2))
        + "\n",
        encoding="utf-8",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = History(tmp_path)
    assert [r["prompt_id"] for r in history.records()] == ["b"] and history.skipped == 0
    assert history.get("b") == queue_record("b", 2)
    (line,) = lines_of(path)  # rewritten, with its checksum
    assert json.loads(line) == json.loads(with_crc(queue_record("b", 2)))


def test_a_line_whose_checksum_key_was_damaged_is_not_taken_for_an_old_one(tmp_path):
    history = History(tmp_path)
    for n in (1, 2):
        history.append(queue_record(f"p{n}", n))
    path = tmp_path / FILENAME
    path.write_bytes(path.read_bytes().replace(b'"crc"', b'"crC"', 1))
    with pytest.warns(RuntimeWarning, match=r"skipped 1 .*\(1\)"):
        reloaded = History(tmp_path)
    assert [r["prompt_id"] for r in reloaded.records()] == ["p2"]


def test_a_string_utf8_cannot_encode_is_written_and_read_back(tmp_path):
    """A lone surrogate (e.g. from a badly decoded file name) must not make the append fail."""
    history = History(tmp_path)
    stored = history.append(record("a", outputs={"n": {"text": ["bad \udc80 name", "ok é"]}}))
    assert History(tmp_path).get("a") == stored


# --- any damage to the file: load never raises, and keeps every good record --------------

RIGHT_TYPE = {  # HistoryRecord's types, written out independently of the code under test
    "prompt_id": lambda v: type(v) is str,
    "number": lambda v: type(v) is int,
    "status": lambda v: type(v) is str,
    "prompt": lambda v: type(v) is dict,
    "targets": lambda v: v is None or (type(v) is list and all(type(x) is str for x in v)),
    "outputs": lambda v: type(v) is dict and all(type(x) is dict for x in v.values()),
    "executed": lambda v: type(v) is list and all(type(x) is str for x in v),
    "timings": lambda v: type(v) is dict and all(type(x) in (int, float) for x in v.values()),
    "error": lambda v: v is None or type(v) is dict,
    "queued_at": lambda v: type(v) is int,
}
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=4,
)


@st.composite
def damage(draw, line: bytes) -> tuple[bytes, bool]:
    """``line`` damaged one way; and whether its record must then be gone."""
    how = draw(st.sampled_from(["truncate", "insert", "retype"]))
    if how == "truncate":
        return line[: draw(st.integers(0, len(line) - 1))], True
    if how == "insert":  # may change nothing that matters (a space between tokens)
        at = draw(st.integers(0, len(line)))
        return line[:at] + draw(st.binary(min_size=1, max_size=8)) + line[at:], False
    entry = json.loads(line)
    field = draw(st.sampled_from(sorted(RIGHT_TYPE)))
    entry[field] = draw(JSON_VALUES.filter(lambda v: not RIGHT_TYPE[field](v)))
    crc = draw(st.sampled_from(["kept", "removed", "recomputed"]))
    if crc == "removed":
        del entry["crc"]
    elif crc == "recomputed":
        del entry["crc"]
        return with_crc(entry).encode(), True
    return json.dumps(entry).encode(), True


GOOD = [queue_record(f"p{n}", n) for n in range(4)]


@pytest.fixture(scope="module")
def good_lines() -> list[bytes]:
    with tempfile.TemporaryDirectory() as directory:
        writer = History(directory)
        for rec in GOOD:
            writer.append(rec)
        with open(os.path.join(directory, FILENAME), "rb") as f:
            return f.read().split(b"\n")[:-1]


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_no_damage_to_lines_makes_loading_fail_or_lose_a_good_record(good_lines, data):
    # Durability is not what this checks: skip the fsyncs, which would make it slow.
    with tempfile.TemporaryDirectory() as directory, mock.patch("os.fsync"):
        path = os.path.join(directory, FILENAME)
        lines = list(good_lines)
        damaged = data.draw(st.sets(st.integers(0, len(lines) - 1), min_size=1, max_size=2))
        gone = set()
        for i in damaged:
            lines[i], lost = data.draw(damage(lines[i]))
            if lost:
                gone.add(GOOD[i]["prompt_id"])
        data_end = b"\n" if data.draw(st.booleans()) else b""  # or cut before the last newline
        with open(path, "wb") as f:
            f.write(b"\n".join(lines) + data_end)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = History(directory)
        by_id = {r["prompt_id"]: r for r in loaded.records()}
        for i, rec in enumerate(GOOD):
            if i not in damaged:
                assert by_id[rec["prompt_id"]] == rec  # every good record stays
            if rec["prompt_id"] in gone:
                assert rec["prompt_id"] not in by_id
        assert all(r in GOOD for r in by_id.values())  # nothing damaged is taken for a record
        assert loaded.skipped <= len(damaged) * 9  # an insert may split a line: 8 newlines

        loaded.append(queue_record("new", 9))  # and the file goes on cleanly
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            again = History(directory)
        assert again.records() == loaded.records()
