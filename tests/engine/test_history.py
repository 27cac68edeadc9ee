"""History: what a record holds, persistence across a restart, corruption, bounds."""

from __future__ import annotations

import json
import math
import os
import shutil
import warnings

import pytest
import torch

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
    assert json.loads(lines_of(tmp_path / FILENAME)[0]) == rec


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
    size = len(json.dumps(record("p0", **big), separators=(",", ":")).encode()) + 1
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
