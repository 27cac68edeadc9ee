"""The prompt queue: order, batch count, cancel/clear/interrupt, events, futures.

Graphs are tiny prompt literals over the nodes of ``queue_nodes``. ``gate`` holds
the worker (ticking progress) until the test opens it, so tests can queue behind
a running job without sleeping; waits use events and ``Job.result(TIMEOUT)`` with
a generous timeout, never a sleep standing for "long enough".
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import sys
import threading
import time

import pytest

from engine import Job, progress

from .queue_nodes import (
    RAN,
    TIMEOUT,
    Gate,
    gate_node,
    gated,
    hold,
    marked,
    spinning,
    started,
    v,
    wait_until,
)

pytestmark = pytest.mark.usefixtures("reset_queue_nodes")


# --- running --------------------------------------------------------------------------


def test_a_job_returns_the_executors_result(q):
    (job,) = q.submit(marked("a", 7))
    r = job.result(TIMEOUT)
    assert r.status == "success"
    assert r.prompt_id == job.id
    assert r.executed == {"v", "m"}
    assert r.outputs == {"m": {"tag": ["a"], "x": [7]}}
    assert job.status == "success" and job.done() and not job.cancelled()
    assert q.running() is None and q.pending() == []


def test_jobs_share_the_executors_cache(q):
    first = q.submit(marked("a"))[0].result(TIMEOUT)
    again = q.submit(marked("a"))[0].result(TIMEOUT)
    assert first.executed == {"v", "m"}
    assert again.executed == set() and again.cached == {"v", "m"}


def test_partial_execution_targets(q):
    prompt = {**marked("a"), "m2": {"class_type": "mark", "inputs": {"x": ["v", 0], "tag": "b"}}}
    (job,) = q.submit(prompt, outputs=["m2"])
    assert job.result(TIMEOUT).executed == {"v", "m2"}
    assert RAN == ["b"]


def test_priority_then_submission_order_and_front_first(q):
    g, _ = hold(q)
    a, b, c = (q.submit(marked(t), priority=p)[0] for t, p in [("a", 0), ("b", 5), ("c", 0)])
    (d,) = q.submit(marked("d"), front=True)
    tags = iter(["e1", "e2"])
    e1, e2 = q.submit(lambda: marked(next(tags)), number=2, front=True)

    assert q.pending() == [e1, e2, d, b, a, c]
    g.open()
    assert q.join(TIMEOUT)
    assert RAN == ["e1", "e2", "d", "b", "a", "c"]


def test_batch_count_queues_that_many_runs(q):
    jobs = q.submit(marked("a"), number=3)
    assert len(jobs) == 3 and len({j.id for j in jobs}) == 3
    results = [j.result(TIMEOUT) for j in jobs]
    assert [r.status for r in results] == ["success"] * 3
    # The same graph three times: the first run computes, the others come from the cache.
    assert [r.executed for r in results] == [{"v", "m"}, set(), set()]
    assert [j.number for j in jobs] == sorted(j.number for j in jobs)


def test_batch_count_above_the_limit_queues_nothing(q):
    g, _ = hold(q)
    with pytest.raises(ValueError, match="over the limit of 100"):
        q.submit(marked("a"), number=101)
    for bad in (0, -1, 2.0):
        with pytest.raises(ValueError, match="batch count"):
            q.submit(marked("a"), number=bad)
    assert q.pending() == []

    q.batch_limit = 150
    assert len(q.submit(marked("a"), number=101)) == 101
    g.open()
    assert q.join(TIMEOUT)
    assert RAN == ["a"]  # run once, then cached 100 times


def test_a_callable_prompt_is_resolved_per_job_at_submit(q):
    seeds = iter(range(10, 20))
    jobs = q.submit(lambda: marked("s", next(seeds)), number=3)
    assert [j.prompt["v"]["inputs"]["v"] for j in jobs] == [10, 11, 12]
    assert [j.result(TIMEOUT).outputs["m"]["x"] for j in jobs] == [[10], [11], [12]]


def test_the_submitted_prompt_is_copied(q):
    g, _ = hold(q)
    prompt = marked("before")
    (job,) = q.submit(prompt)
    prompt["m"]["inputs"]["tag"] = "after"
    prompt["v"]["inputs"]["v"] = 99
    g.open()
    assert job.result(TIMEOUT).outputs["m"] == {"tag": ["before"], "x": [0]}


def test_an_invalid_prompt_fails_its_job_only(q):
    (bad,) = q.submit({"m": {"class_type": "mark", "inputs": {"tag": "x"}}})  # x missing
    (good,) = q.submit(marked("a"))
    assert bad.result(TIMEOUT).status == "invalid"
    assert bad.status == "error"
    assert good.result(TIMEOUT).status == "success"


def test_a_failing_node_fails_its_job_and_the_queue_goes_on(q):
    (bad,) = q.submit({"v": v(), "f": {"class_type": "fail", "inputs": {"x": ["v", 0]}}})
    (good,) = q.submit(marked("a"))
    r = bad.result(TIMEOUT)
    assert r.status == "error" and bad.status == "error"
    assert r.error["exception_message"] == "boom"
    assert good.result(TIMEOUT).status == "success"


# --- cancel, clear, interrupt ---------------------------------------------------------


def test_cancel_a_pending_job_removes_it(q):
    g, running = hold(q)
    a, b = q.submit(marked("a"))[0], q.submit(marked("b"))[0]

    assert q.cancel(a.id) == "cancelled"
    assert a.status == "cancelled" and a.cancelled() and a.done()
    with pytest.raises(concurrent.futures.CancelledError):
        a.result(TIMEOUT)
    assert concurrent.futures.wait([a], TIMEOUT).done == {a}
    assert q.pending() == [b]
    assert q.cancel(a.id) is None  # nothing left to do

    g.open()
    assert b.result(TIMEOUT).status == "success"
    assert running.result(TIMEOUT).status == "success"
    assert RAN == ["b"]


def test_cancel_the_running_job_interrupts_it_and_the_next_job_runs(q):
    _, running = hold(q)
    (after,) = q.submit(marked("after"))

    assert running.cancel() is True  # Job.cancel: the futures-style bool
    r = running.result(TIMEOUT)
    assert r.status == "interrupted" and running.status == "interrupted"
    assert not running.cancelled()  # it ran: its result says how far
    assert after.result(TIMEOUT).status == "success"
    assert RAN == ["after"]


def test_cancel_by_id_says_what_it_did(q):
    _, running = hold(q)
    (pending,) = q.submit(marked("a"))
    assert q.cancel(pending.id) == "cancelled"
    assert q.cancel(running) == "interrupted"
    assert running.result(TIMEOUT).status == "interrupted"
    assert q.cancel("no-such-job") is None


def test_cancel_of_a_finished_job_never_touches_the_next_one(q):
    (done,) = q.submit(marked("a"))
    done.result(TIMEOUT)
    g, running = hold(q)

    assert q.cancel(done.id) is None
    assert done.cancel() is False
    g.open()
    assert running.result(TIMEOUT).status == "success"


def test_cancel_as_the_worker_takes_the_job(q):
    """Cancelled after the worker took the job but before the executor started it."""
    g, _ = hold(q)
    (job,) = q.submit(marked("late"))
    actions = []

    def on_status(event):
        if event.type == "status" and event.data["running"] == job.id and not actions:
            actions.append(q.cancel(job.id))  # the executor has not started the prompt yet

    q.subscribe(on_status)
    g.open()
    r = job.result(TIMEOUT)
    assert actions == ["interrupted"]
    assert r.status == "interrupted" and r.executed == set()
    assert "late" not in RAN


def test_clear_removes_every_pending_job(q):
    g, running = hold(q)
    pending = q.submit(marked("a"), number=3) + q.submit(marked("b"))

    assert q.clear() == pending
    assert all(j.status == "cancelled" and j.cancelled() for j in pending)
    assert q.pending() == [] and q.running() is running
    g.open()
    assert running.result(TIMEOUT).status == "success"
    assert q.join(TIMEOUT)
    assert RAN == []


def test_interrupt_stops_only_the_running_job(q):
    assert q.interrupt() is False  # nothing running
    _, running = hold(q)
    (after,) = q.submit(marked("after"))
    assert q.interrupt() is True
    assert running.result(TIMEOUT).status == "interrupted"
    assert after.result(TIMEOUT).status == "success"


def test_interrupt_a_progress_ticking_node(make_queue, cache_mode):
    """The progress tick alone stops it (no watchdog: grace=None); finished nodes stay cached."""
    q = make_queue(cache_mode, grace=None)
    events = []
    q.subscribe(events.append)
    g = Gate()
    (job,) = q.submit(gated(g))
    assert started(g, job)
    assert q.interrupt()
    r = job.result(TIMEOUT)
    assert r.status == "interrupted"
    assert r.executed == {"v"}
    stops = [e.data for e in events if e.type == "execution_interrupted"]
    assert stops == [
        {
            "node_id": "g",
            "node_type": "gate",
            "executed": ["v"],
            "prompt_id": job.id,
            "timestamp": stops[0]["timestamp"],
        }
    ]
    assert q.executor.get_output("g") is None  # nothing cached for the interrupted node
    if cache_mode != "none":
        assert q.executor.get_output("v") == (0,)

    g.open()  # the next run works, from the cache where there is one
    again = q.submit(gated(g))[0].result(TIMEOUT)
    assert again.status == "success"
    if cache_mode == "none":
        assert again.executed == {"v", "g"}
    else:
        assert again.executed == {"g"} and again.cached == {"v"}


def test_interrupt_a_pure_python_loop(make_queue, cache_mode):
    """A node that never calls progress is stopped by the asynchronous exception."""
    q = make_queue(cache_mode, grace=0.2)
    g = Gate()
    (job,) = q.submit(spinning(g))
    assert started(g, job)
    assert q.interrupt()
    r = job.result(TIMEOUT)
    assert r.status == "interrupted" and job.status == "interrupted"
    assert r.executed == {"v"}
    assert q.executor.get_output("s") is None
    if cache_mode != "none":
        assert q.executor.get_output("v") == (0,)

    # The forced exception does not leak into the jobs after it.
    later = q.submit(marked("a")) + q.submit(marked("b")) + q.submit(spinning(Gate(), 0.05))
    assert [j.result(TIMEOUT).status for j in later] == ["success"] * 3


def test_a_native_call_stops_when_it_returns_to_python(q):
    """``time.sleep`` cannot be interrupted: the job ends without the node, which stores
    nothing when it returns."""
    g = Gate()
    inputs = {"x": ["v", 0], "name": g.name, "seconds": 1.0}
    prompt = {"v": v(), "n": {"class_type": "nap", "inputs": inputs}}
    (job,) = q.submit(prompt)
    assert started(g, job)
    q.interrupt()
    r = job.result(TIMEOUT)
    # Without the forced exception the nap would finish and, being the last
    # node, the run would succeed with it cached.
    assert r.status == "interrupted"
    assert q.executor.get_output("n") is None


def test_a_forced_interrupt_never_outlives_the_nodes_code():
    """The watchdog raises as the node returns: the exception is delivered while the node is
    being left (as an interrupt of that node) or taken back, never in the engine's bookkeeping
    after it; and once the node is left, ``force_interrupt`` raises nothing."""
    from engine import Executor, InterruptProcessing, NodeRegistry
    from engine._async_exc import raise_in_thread

    ex = Executor(NodeRegistry())
    me = threading.get_ident()
    ex.running_prompt_id, ex.running_thread_id, ex.running_node = "p", me, "n"

    def watchdog() -> None:
        with ex._state_lock:  # force_interrupt's critical section, as the node returns
            while sys._current_frames()[me].f_code.co_name != "leave_user_code":
                time.sleep(0.001)
            raise_in_thread(me, InterruptProcessing)  # what force_interrupt does, found running
            ex._forced = True

    thread = threading.Thread(target=watchdog)
    thread.start()
    while not ex._state_lock.locked():
        time.sleep(0.001)
    with contextlib.suppress(InterruptProcessing):  # delivered while leaving: the node stopped
        ex.leave_user_code()
    thread.join()
    for _ in range(100_000):  # bookkeeping: bytecodes where a pending exception would land
        pass
    assert ex.running_node is None
    assert not ex.force_interrupt("p", "n", me)


@pytest.mark.parametrize("kind", ["stuck", "stubborn"])
def test_a_node_that_does_not_stop_is_given_up_on(make_queue, kind, caplog):
    """A node still running ``SETTLE`` s after the forced interrupt (in a native call, or
    swallowing it): the job ends interrupted without it; the next job waits for the node
    to return; its late return stores nothing, and its run's late events are dropped."""
    q = make_queue("lru", grace=0.2)  # lru: entries outlive the next prompt, to look for one
    events = []
    q.subscribe(events.append)
    g = Gate()
    (job,) = q.submit(gate_node(kind, g))
    assert started(g, job)
    (after,) = q.submit(marked("after"))
    with caplog.at_level(logging.INFO, logger="engine"):
        assert q.interrupt()
        r = job.result(TIMEOUT)
    assert q.executor.running_node == "n"  # the node still runs
    assert r.status == "interrupted" and job.status == "interrupted"
    assert r.error["node_id"] == "n" and r.error["stopping"] is True
    assert r.executed == {"v"} and r.cached == set()  # "n" was stopped, as by any interrupt
    assert q.stopping() == (job, "n") and q.running() is None
    assert after.status == "pending"  # waiting for the node
    assert [(rec["prompt_id"], rec["status"]) for rec in q.history()] == [(job.id, "interrupted")]
    ends = [
        (e.type, e.data.get("node"))
        for e in events
        if e.prompt_id == job.id and e.type in ("execution_interrupted", "executing")
    ]
    assert ends[-2:] == [("execution_interrupted", None), ("executing", None)]
    assert not [rec for rec in caplog.records if rec.levelno >= logging.WARNING]

    g.open()
    assert after.result(TIMEOUT).status == "success"
    assert q.stopping() is None
    assert q.executor.cached_output(r.trace.keys["n"]) is None  # the late return stored nothing
    assert q.executor.cached_output(r.trace.keys["v"]) == (0,)
    assert [e.type for e in events if e.prompt_id == job.id].count("execution_interrupted") == 1
    assert [rec["prompt_id"] for rec in q.history()] == [job.id, after.id]
    stopping = [e.data["stopping"] for e in events if e.type == "status"]
    assert {"prompt_id": job.id, "node": "n"} in stopping and stopping[-1] is None


# --- many threads ---------------------------------------------------------------------


def test_eight_threads_submitting_200_jobs(q):
    barrier = threading.Barrier(8)
    jobs: list[Job] = []
    jobs_lock = threading.Lock()

    def submitter(t: int) -> None:
        barrier.wait()
        for i in range(25):
            tag = f"{t}-{i}"
            mine = q.submit(marked(tag, t * 100 + i), priority=i % 3, front=(i % 7 == 0))
            with jobs_lock:
                jobs.extend(mine)

    threads = [threading.Thread(target=submitter, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)

    results = {job.id: job.result(TIMEOUT) for job in jobs}
    assert len(results) == 200
    assert all(r.status == "success" for r in results.values())
    assert sorted(RAN) == sorted(f"{t}-{i}" for t in range(8) for i in range(25))  # once each

    records = q.history()
    assert len(records) == 200
    assert {r["prompt_id"] for r in records} == set(results)
    assert len({r["number"] for r in records}) == 200
    for record in records:
        tag = record["prompt"]["m"]["inputs"]["tag"]
        assert record["status"] == "success"
        assert record["outputs"]["m"] == {"tag": [tag], "x": [record["prompt"]["v"]["inputs"]["v"]]}
        assert record["executed"] == ["m", "v"]
        assert record["started_at"] <= record["finished_at"]


# --- events ---------------------------------------------------------------------------


def test_queue_and_job_subscriptions(q):
    seen, seen_a = [], []
    q.subscribe(seen.append)
    g, running = hold(q)
    a, b = q.submit(marked("a", 1))[0], q.submit(marked("b"))[0]  # a: nothing cached
    a.subscribe(seen_a.append)
    g.open()
    assert q.join(TIMEOUT)

    assert {e.prompt_id for e in seen_a} == {a.id}
    assert [e.type for e in seen_a] == [
        "execution_start",
        "execution_cached",
        "executing",
        "executing",
        "executed",
        "execution_success",
        "executing",
    ]
    run_events = {e.prompt_id for e in seen if e.type != "status"}
    assert run_events == {running.id, a.id, b.id}


def test_on_event_sees_every_event_of_each_job(q):
    seen = []
    jobs = q.submit(marked("a", 3), number=2, on_event=seen.append)
    assert q.join(TIMEOUT)
    for job in jobs:
        mine = [e.type for e in seen if e.prompt_id == job.id]
        assert mine[0] == "execution_start" and mine[-2:] == ["execution_success", "executing"]
    assert {e.prompt_id for e in seen} == {j.id for j in jobs}


def test_status_events_on_every_change(q):
    statuses = []
    q.subscribe(lambda e: statuses.append(e.data) if e.type == "status" else None)
    g, running = hold(q)
    a, b = q.submit(marked("a"))[0], q.submit(marked("b"))[0]
    snapshot = (statuses[-1]["queue_remaining"], statuses[-1]["running"])
    assert snapshot == (3, running.id)
    q.cancel(a)
    assert (statuses[-1]["queue_remaining"], statuses[-1]["running"]) == (2, running.id)
    g.open()
    assert q.join(TIMEOUT)
    assert (statuses[-1]["queue_remaining"], statuses[-1]["running"]) == (0, None)
    assert any(s["running"] == b.id for s in statuses)
    assert all(s["prompt_id"] is None and isinstance(s["timestamp"], int) for s in statuses)


def test_progress_events_are_coalesced_and_the_last_value_delivered(q):
    prompt = {
        "v": v(),
        "t": {"class_type": "ticks", "inputs": {"x": ["v", 0], "n": 200, "pause": 0.002}},
    }
    ticks_seen = []
    started = time.monotonic()
    (job,) = q.submit(
        prompt, on_event=lambda e: ticks_seen.append(e.data) if e.type == "progress" else None
    )
    assert job.result(TIMEOUT).status == "success"
    elapsed = time.monotonic() - started

    assert ticks_seen, "no progress event"
    assert len(ticks_seen) <= elapsed * progress.MAX_RATE + 2  # 200 updates, ≤ 10/s delivered
    assert (ticks_seen[-1]["value"], ticks_seen[-1]["max"]) == (200, 200)
    assert {t["node"] for t in ticks_seen} == {"t"}


def test_a_failing_subscriber_does_not_break_the_run(q):
    def broken(event):
        raise RuntimeError("broken progress bar")

    q.subscribe(broken)
    (job,) = q.submit(marked("a"))
    job.subscribe(broken)
    assert job.result(TIMEOUT).status == "success"


# --- futures, awaiting, the worker ----------------------------------------------------


def test_jobs_are_futures(q):
    done = []
    jobs = q.submit(marked("a"), number=3)
    jobs[0].add_done_callback(done.append)
    finished, not_done = concurrent.futures.wait(jobs, timeout=TIMEOUT)
    assert finished == set(jobs) and not not_done
    assert done == [jobs[0]]
    assert all(j.exception() is None for j in jobs)


def test_jobs_are_awaitable(q):
    async def main():
        (job,) = q.submit(marked("a"))
        return await asyncio.wait_for(job, TIMEOUT)

    assert asyncio.run(main()).status == "success"


def test_the_worker_starts_lazily_and_again_after_shutdown(q):
    assert q._worker is None
    assert q.submit(marked("a"))[0].result(TIMEOUT).status == "success"
    q.shutdown()
    assert q._worker is None
    assert q.submit(marked("b"))[0].result(TIMEOUT).status == "success"


def test_shutdown_keeps_pending_jobs_for_the_restarted_worker(q):
    g, running = hold(q)
    (pending,) = q.submit(marked("a"))
    q.shutdown(wait=False)
    g.open()
    assert running.result(TIMEOUT).status == "success"
    wait_until(lambda: q._worker is None)
    assert pending.status == "pending"
    q.submit(marked("b"))
    assert pending.result(TIMEOUT).status == "success"
