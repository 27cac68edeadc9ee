"""The prompt queue: runs submitted while the user keeps working, one at a time.

``PromptQueue(executor)`` serves a priority heap with one worker thread of its
own (started on the first submit, a daemon, started again after ``shutdown()``
or if it ever dies). ``submit`` returns ``Job`` handles; each job runs its
prompt with ``executor.execute`` and is recorded in the history.

State (guarded by ``_cond``'s lock; mutated only in the methods below):

- ``_heap``: pending jobs as ``(sort key, job)``. The key orders jobs queued
  with ``front=True`` first (the newest front batch ahead of older ones), then
  higher ``priority`` first, then submission order.
- ``_running``: the job the worker is running, or None. A job counts as
  running from the moment the worker takes it off the heap until its result
  is recorded (history written, auto-queue consulted).
- ``_stopping``: ``(job, node id)`` while the worker is still inside a node of
  a job that was given up on (see "Giving up on a node"), else None.
- ``_worker`` / ``_shutting_down``: the worker thread and its stop request.
- ``Job._finished``: the job's result is being (or was) recorded; whoever sets
  it first (the worker, or the watchdog giving up) records it, once.

Job ids are the executor's prompt ids, so every event of a job's run carries
the job id as ``prompt_id``.

Stopping a run. ``cancel(job_id)`` decides under the lock: a pending job is
removed (status ``cancelled``); the running job is interrupted — by its prompt
id, so a late request never stops the job after it, and one made before the
executor has started the job's prompt stops it as it starts. The executor
checks the interrupt flag before every node and at every
``engine.progress.update`` tick.
A node that does neither (a pure-Python loop) is stopped by the watchdog: if
a node of the job is running ``grace`` seconds after the interrupt (default
2 s), ``InterruptProcessing`` is raised asynchronously in the worker thread
(``PyThreadState_SetAsyncExc``), again every ``grace`` seconds while a node of
it runs. Python delivers such an exception only between bytecodes: a native
call (a long C or CUDA kernel, ``time.sleep``) stops only when it returns to
Python, and a node that swallows every exception stops at the next delivery
it does not catch.

Giving up on a node. If the node is still running ``SETTLE`` seconds after
the forced interrupt, the job is finished without it, so that whoever waits
for it gets an answer within ``grace + SETTLE`` seconds of the interrupt:
``Executor.abandon`` gives the run's result so far (status ``interrupted``,
``error["stopping"]`` true); the job is recorded and resolved with it, and its
subscribers get ``execution_interrupted`` then ``executing`` with node None,
as for any interrupted run. The worker thread stays inside the node until its
call returns: meanwhile ``stopping()`` names the job and node, ``running()``
is None, and pending jobs wait (the executor runs one prompt at a time, and
the worker is the thread that runs them). When the call returns, the node
stores nothing (leaving its code raises the interrupt), the run ends, and its
result and late events are discarded; then the worker takes the next job.

Events. ``subscribe(callback)`` gets every event of the executor (forwarded
as they are, except the late ones of a job given up on) and the queue's
``status`` events, ``{"queue_remaining", "running", "stopping"}`` (pending
plus running jobs, the running job's id, and ``{"prompt_id", "node"}`` of a
job given up on whose node still runs, or None), sent on every change of the
queue. Events reach subscribers one at a time, in order; a callback must not
block waiting for a job. ``Job.subscribe`` gets only that job's events.
Nothing is logged for an interrupt the watchdog forces: it belongs to the
job's result (a timer thread's log line would land in whatever notebook cell
runs at that moment).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import heapq
import itertools
import logging
import os
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from typing import Any, Literal

from ._async_exc import clear_in_thread
from .autoqueue import DEFAULT_DEBOUNCE, AutoQueue, Mode
from .events import Event, EventBus, Subscriber, now_ms
from .executor import ExecutionResult, Executor, InterruptProcessing
from .history import DEFAULT_LIMIT, DEFAULT_MAX_BYTES, History, default_data_dir
from .seeds import SeedPlan, plan_seeds, with_seeds

log = logging.getLogger(__name__)

DEFAULT_DATA_DIR = "<default>"  # PromptQueue's data_dir when none is given (see its docstring)
DEFAULT_BATCH_LIMIT = 100  # ComfyUI's default "Batch count limit"
DEFAULT_GRACE = 2.0  # seconds before an interrupt is forced into a node
SETTLE = 0.2  # seconds a forced interrupt gets to land before the job is given up on

JobStatus = Literal["pending", "running", "success", "error", "interrupted", "cancelled"]
CancelAction = Literal["cancelled", "interrupted"]


class Job(concurrent.futures.Future):
    """One queued run: a ``concurrent.futures.Future`` of its ``ExecutionResult``, and awaitable.

    ``status`` is ``pending``, ``running``, then ``success``, ``error`` (an
    invalid prompt included), ``interrupted`` or ``cancelled`` (removed while
    pending: ``result()`` then raises ``concurrent.futures.CancelledError``).
    ``cancel()`` cancels a pending job or interrupts the running one and
    returns whether it did either; ``record`` is the history record once done.
    """

    def __init__(
        self,
        queue: PromptQueue,
        prompt: dict,
        targets: list[str] | None,
        *,
        number: int,
        priority: int,
        front: bool,
        extra_data: dict,
        auto: bool,
    ):
        super().__init__()
        self.id = str(uuid.uuid4())
        self.prompt = prompt
        self.targets = targets
        self.number = number
        self.priority = priority
        self.front = front
        self.extra_data = extra_data
        self.auto = auto  # queued by the auto-queue
        self.queued_at = now_ms()
        self.started_at: int | None = None
        self.finished_at: int | None = None
        self.record: dict | None = None
        self.seeds: dict[str, dict] = {}  # node id -> {input: value} its seed policies gave it
        self.next_seeds: dict[str, dict] = {}  # and the values after it (engine.seeds)
        self._queue = queue
        self._status: JobStatus = "pending"
        self._finished = False  # its result is (being) recorded; see the module docstring
        self._events = EventBus()  # this job's events only; published by the queue

    @property
    def status(self) -> JobStatus:
        return self._status

    def cancel(self) -> bool:
        """Remove this job if pending, interrupt it if running; False if it was already done."""
        return self._queue.cancel(self.id) is not None

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` for every event of this job's run; returns an unsubscriber.

        Events already sent are not replayed: to miss none, pass ``on_event`` to
        ``PromptQueue.submit``, which subscribes before the job is queued.
        """
        return self._events.subscribe(callback)

    def __await__(self):
        return asyncio.wrap_future(self).__await__()

    def __repr__(self) -> str:
        return f"<Job #{self.number} {self._status} id={self.id[:8]}>"


class PromptQueue:
    """Runs prompts on ``executor`` one at a time, in priority order (see the module docstring).

    ``data_dir``: where ``history.jsonl`` is kept: by default ``$WORKBENCH_DATA_DIR``
    or ``.workbench`` in the current directory; None keeps history in memory only.
    ``history_size``, ``history_bytes``: how many records it keeps, and how many
    bytes of them (the oldest go first).
    ``batch_limit``: the largest batch count ``submit`` accepts. ``grace``:
    seconds before an interrupt is forced into a node that ignores it (None: never).
    """

    def __init__(
        self,
        executor: Executor,
        *,
        data_dir: str | os.PathLike | None = DEFAULT_DATA_DIR,
        history_size: int = DEFAULT_LIMIT,
        history_bytes: int = DEFAULT_MAX_BYTES,
        batch_limit: int = DEFAULT_BATCH_LIMIT,
        grace: float | None = DEFAULT_GRACE,
        debounce: float = DEFAULT_DEBOUNCE,
    ):
        self.executor = executor
        self.batch_limit = batch_limit
        if data_dir is DEFAULT_DATA_DIR:
            data_dir = default_data_dir()
        self.history_store = History(data_dir, history_size, history_bytes)
        self.auto = AutoQueue(self, debounce)
        self._cond = threading.Condition(threading.RLock())
        self._heap: list[tuple[tuple, Job]] = []
        self._running: Job | None = None
        self._stopping: tuple[Job, str] | None = None
        self._worker: threading.Thread | None = None
        self._shutting_down = False
        self._seq = itertools.count()
        self._front_seq = itertools.count()
        self._number = itertools.count(
            max((r.get("number", -1) for r in self.history_store.records()), default=-1) + 1
        )
        self._watchdog = _Watchdog(executor, grace, self._give_up)
        self._events = EventBus()  # the executor's events, forwarded, and the queue's own
        self._emit_lock = threading.RLock()  # one event at a time reaches subscribers
        self._unsubscribe = executor.subscribe(self._forward)

    # --- submitting ---

    def submit(
        self,
        prompt: dict | Callable[[], dict],
        outputs: list[str] | None = None,
        priority: int = 0,
        number: int = 1,
        front: bool = False,
        *,
        extra_data: dict | None = None,
        on_event: Subscriber | None = None,
        seed_control: dict[str, dict[str, str]] | None = None,
    ) -> list[Job]:
        """Queue ``number`` runs of ``prompt`` (the batch count); returns their jobs in run order.

        ``outputs`` selects partial-execution targets. Higher ``priority`` runs
        first; ``front=True`` puts the batch ahead of everything pending. A
        callable ``prompt`` is called once per job, in order, before anything
        is queued (where a widget's control-after-generate policy resolves).
        The prompt is copied: changing it after submit does not change the jobs.
        ``on_event`` is subscribed to each job (``Job.subscribe``) before it is
        queued, so it sees every event of the run. ``seed_control`` (node id ->
        {input: policy}) gives each job its seeds (``engine.seeds``): job *i* runs
        with the values after *i* steps of the policies, in ``Job.seeds``, and
        ``Job.next_seeds`` holds the values after it. Raises ``ValueError`` (and
        queues nothing) if ``number`` is not in 1..``batch_limit`` or a policy is unknown.
        """
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise ValueError(f"batch count must be a positive integer, not {number!r}")
        if number > self.batch_limit:
            raise ValueError(
                f"batch count {number} is over the limit of {self.batch_limit}; nothing was "
                "queued (raise PromptQueue.batch_limit to allow more)"
            )
        prompts = [_copy_prompt(prompt() if callable(prompt) else prompt) for _ in range(number)]
        plan = None
        if seed_control:
            plan = plan_seeds(prompts[0], seed_control, self.executor.registry, number)
            prompts = [with_seeds(p, values) for p, values in zip(prompts, plan.used, strict=True)]
        return self._enqueue(prompts, outputs, priority, front, extra_data, False, on_event, plan)

    def _submit_auto(self, prompt: dict, outputs) -> Job:
        """Queue one auto-queue run without a status event (the caller holds the auto-queue's
        lock and sends it after releasing that lock)."""
        prompt = _copy_prompt(prompt)
        return self._enqueue([prompt], outputs, 0, False, None, True, None, emit=False)[0]

    def _enqueue(
        self,
        prompts,
        outputs,
        priority,
        front,
        extra_data,
        auto,
        on_event,
        plan: SeedPlan | None = None,
        emit: bool = True,
    ) -> list[Job]:
        targets = list(outputs) if outputs is not None else None
        with self._cond:
            front_seq = next(self._front_seq)
            jobs = []
            for index, prompt in enumerate(prompts):
                job = Job(
                    self,
                    prompt,
                    targets,
                    number=next(self._number),
                    priority=priority,
                    front=front,
                    extra_data=dict(extra_data or {}),
                    auto=auto,
                )
                if plan is not None:
                    job.seeds, job.next_seeds = plan.used[index], plan.after[index]
                if on_event is not None:
                    job.subscribe(on_event)
                key = (0, -front_seq, index) if front else (1, -priority, next(self._seq))
                heapq.heappush(self._heap, (key, job))
                jobs.append(job)
            self._ensure_worker()
            self._cond.notify_all()
        if emit:
            self._emit_status()
        return jobs

    # --- looking ---

    def pending(self) -> list[Job]:
        """Pending jobs, in the order they will run."""
        with self._cond:
            return [job for _, job in sorted(self._heap, key=lambda entry: entry[0])]

    def running(self) -> Job | None:
        return self._running

    def stopping(self) -> tuple[Job, str] | None:
        """The job given up on while its node still runs (a native call), and that node's id;
        None if there is none. Pending jobs wait for that node to return."""
        return self._stopping

    @property
    def grace(self) -> float | None:
        """Seconds before an interrupt is forced into a node that ignores it (None: never)."""
        return self._watchdog.grace

    @grace.setter
    def grace(self, seconds: float | None) -> None:
        self._watchdog.grace = seconds

    def history(self, max_items: int | None = None) -> list[dict]:
        """History records (see ``engine.history``), oldest first."""
        return self.history_store.records(max_items)

    def join(self, timeout: float | None = None) -> bool:
        """Wait until nothing is pending, running or about to be queued by the auto-queue.

        Returns False on timeout. With ``instant`` auto-queue on, this waits
        until the loop stops by itself.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._idle() or self.auto.debouncing:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)  # woken by every change of the two conditions
            return True

    # --- stopping ---

    def _withdraw(self, job: Job) -> bool:
        """Remove ``job`` if it is still pending (never interrupts it); for the auto-queue."""
        with self._cond:
            taken = self._take_pending([j for _, j in self._heap if j is job])
        self._settle_cancelled(taken)
        return bool(taken)

    def cancel(self, job_id: str | Job) -> CancelAction | None:
        """Remove a pending job (``"cancelled"``) or interrupt the running one (``"interrupted"``).

        Atomic: the job is found pending or running under the queue's lock. A
        job already finished (or unknown) is left alone: None. ``"interrupted"``
        means an interrupt was requested of that job only; its status says
        whether it stopped before finishing.
        """
        job_id = job_id.id if isinstance(job_id, Job) else job_id
        with self._cond:
            job = next((j for _, j in self._heap if j.id == job_id), None)
            if job is not None:
                self._take_pending([job])
                action: CancelAction = "cancelled"
            elif self._running is not None and self._running.id == job_id:
                job = self._running
                self._interrupt(job)
                action = "interrupted"
            else:
                return None
        if action == "cancelled":
            self._settle_cancelled([job])
            self._emit_status()
        self.auto.job_cancelled(job)
        return action

    def clear(self) -> list[Job]:
        """Remove every pending job and stop the auto-queue; returns the jobs removed."""
        self.auto.stop()
        with self._cond:
            removed = self._take_pending(self.pending())
        self._settle_cancelled(removed)
        if removed:
            self._emit_status()
        return removed

    def _take_pending(self, jobs: list[Job]) -> list[Job]:
        """Take ``jobs`` (pending ones) off the heap, as cancelled; returns them.

        Call with the lock held, then ``_settle_cancelled`` them without it.
        """
        taken = set(jobs)
        self._heap = [entry for entry in self._heap if entry[1] not in taken]
        heapq.heapify(self._heap)
        for job in jobs:
            job._status = "cancelled"
        self._cond.notify_all()
        return jobs

    @staticmethod
    def _settle_cancelled(jobs: list[Job]) -> None:
        """Cancel the futures of jobs taken off the heap (without the lock: their callbacks run)."""
        for job in jobs:
            job.finished_at = now_ms()
            concurrent.futures.Future.cancel(job)
            job.set_running_or_notify_cancel()  # wakes concurrent.futures.wait and as_completed

    def interrupt(self) -> bool:
        """Interrupt the running job (that one only); False if none is running."""
        with self._cond:
            job = self._running
            if job is None:
                return False
            self._interrupt(job)
        return True

    def shutdown(self, wait: bool = True, cancel_pending: bool = False) -> None:
        """Stop the worker once the running job is done; a later submit starts it again."""
        self.auto.stop()
        if cancel_pending:
            self.clear()
        with self._cond:
            self._shutting_down = True
            worker = self._worker
            self._cond.notify_all()
        if wait and worker is not None and worker is not threading.current_thread():
            worker.join()

    def close(self) -> None:
        """Shut down (cancelling pending jobs) and stop following the executor's events."""
        self.shutdown(wait=True, cancel_pending=True)
        self._unsubscribe()

    # --- auto-queue ---

    @property
    def auto_mode(self) -> str:
        return self.auto.mode

    def auto_queue(
        self,
        mode: Mode,
        prompt: dict | Callable[[], dict] | None = None,
        outputs: list[str] | None = None,
        *,
        debounce: float | None = None,
    ) -> Job | None:
        """Set the auto-queue mode (``disabled``, ``instant``, ``change``; see ``engine.autoqueue``)."""
        return self.auto.set(mode, prompt, outputs, debounce=debounce)

    def changed(
        self, prompt: dict | Callable[[], dict] | None = None, *, debounce: float | None = None
    ) -> bool:
        """The graph or a parameter changed: in ``change`` mode, queue a (debounced) run
        (``debounce``: this change's, see ``AutoQueue.changed``)."""
        return self.auto.changed(prompt, debounce=debounce)

    # --- events ---

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` for executor events and queue ``status`` events.

        Returns a function that unsubscribes.
        """
        return self._events.subscribe(callback)

    def _forward(self, event: Event) -> None:
        job = self._running
        if job is not None and event.prompt_id == job.id:
            self._publish_run_event(event, job)
        else:
            stopping = self._stopping
            if stopping is None or event.prompt_id != stopping[0].id:
                self._publish(event, None)

    def _publish_run_event(self, event: Event, job: Job) -> None:
        """Publish an event of ``job``'s run, unless the job was finished without its run."""
        if not job._finished:
            self._publish(event, job)

    def _publish(self, event: Event, job: Job | None) -> None:
        """Deliver ``event`` to the queue's subscribers, then to ``job``'s."""
        with self._emit_lock:
            self._events.publish(event)
            if job is not None:
                job._events.publish(event)

    def _emit_status(self) -> None:
        with self._emit_lock:  # the snapshot is taken in delivery order: the last one is current
            with self._cond:
                running, stopping = self._running, self._stopping
                event = Event.make(
                    "status",
                    None,
                    queue_remaining=len(self._heap) + (running is not None),
                    running=running.id if running is not None else None,
                    stopping={"prompt_id": stopping[0].id, "node": stopping[1]}
                    if stopping is not None
                    else None,
                )
            self._publish(event, None)

    # --- the worker ---

    def _ensure_worker(self) -> None:
        """Start the worker if it is not running. Call with the lock held."""
        self._shutting_down = False
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._work, name="engine-queue", daemon=True)
            self._worker.start()

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._heap and not self._shutting_down:
                    self._cond.wait()
                if self._shutting_down:
                    if self._worker is threading.current_thread():
                        self._worker = None
                    self._cond.notify_all()
                    return
                _, job = heapq.heappop(self._heap)
                self._running = job
                job._status = "running"
                job.started_at = now_ms()
            job.set_running_or_notify_cancel()
            self._emit_status()
            try:
                self._run(job)
            except BaseException as exc:  # a bug of ours: fail this job, keep serving the others
                log.exception("queue worker failed on %r", job)
                with self._cond:
                    self._stopping = None
                    if self._running is job:
                        self._running = None
                    if not job._finished:
                        job._finished = True
                        job._status = "error"
                    self._cond.notify_all()
                if not job.done():
                    job.set_exception(exc)
                self._emit_status()

    def _run(self, job: Job) -> None:
        result = self._execute(job)
        with self._cond:
            given_up = job._finished  # finished without this result (_give_up)
            job._finished = True
            if given_up:
                self._stopping = None
                self._cond.notify_all()
        if given_up:
            log.debug(
                "%r: the run given up on has ended (%s); its result is discarded",
                job,
                result.status,
            )
            self._emit_status()
        else:
            self._finish(job, result)

    def _finish(self, job: Job, result: ExecutionResult) -> None:
        """Record ``job``'s result (history, auto-queue), then resolve the job. Call once per job."""
        job.finished_at = now_ms()
        try:
            job.record = self.history_store.append(_record(job, result))
        except Exception:
            log.exception("could not record %r in the history", job)
        try:
            self.auto.after_run(job, result)
        except Exception:
            log.exception("auto-queue failed after %r", job)
        with self._cond:
            if self._running is job:
                self._running = None
            job._status = "error" if result.status == "invalid" else result.status  # type: ignore[assignment]
            self._cond.notify_all()
        job.set_result(result)
        self._emit_status()

    def _give_up(self, job: Job, node_id: str) -> None:
        """Finish ``job`` as interrupted while the worker is stuck in ``node_id`` (the watchdog
        calls this ``SETTLE`` seconds after forcing the interrupt; see the module docstring)."""
        with self._cond:
            if self._running is not job or job._finished:
                return
            result = self.executor.abandon(job.id, node_id)
            if result is None:  # the node returned meanwhile: its run ends by itself
                return
            job._finished = True
            self._stopping = (job, node_id)
        log.info("%r: node %s did not stop; the job ends without it", job, node_id)
        self._publish(Event.make("execution_interrupted", job.id, **result.error), job)
        self._publish(Event.make("executing", job.id, node=None, display_node=None), job)
        self._finish(job, result)

    def _execute(self, job: Job) -> ExecutionResult:
        """Run the job's prompt; returns once no asynchronous interrupt can reach this thread."""
        thread = threading.get_ident()
        result: ExecutionResult | None = None
        while True:
            try:
                if result is None:
                    result = self._call_executor(job)
                self._watchdog.disarm(thread)
                return result
            except InterruptProcessing:  # a forced interrupt that arrived after the node returned
                if result is None:
                    result = self._interrupted(job)

    def _call_executor(self, job: Job) -> ExecutionResult:
        try:
            return self.executor.execute(
                job.prompt, job.targets, extra_data=job.extra_data, prompt_id=job.id
            )
        except InterruptProcessing:
            return self._interrupted(job)
        except BaseException as exc:  # SystemExit from a node, or an executor bug
            log.exception("the executor failed on %r", job)
            error = {
                "node_id": None,
                "node_type": None,
                "exception_type": type(exc).__qualname__,
                "exception_message": str(exc),
                "traceback": traceback.format_tb(exc.__traceback__),
                "current_inputs": {},
            }
            self._publish_run_event(
                Event.make("execution_error", job.id, **error, executed=[]), job
            )
            self._publish_run_event(
                Event.make("executing", job.id, node=None, display_node=None), job
            )
            return ExecutionResult(job.id, "error", error=error)

    def _interrupted(self, job: Job) -> ExecutionResult:
        """The result of a run stopped by an interrupt that escaped the executor's handling."""
        executed = set(self.executor.executed_node_ids)
        data = {
            "node_id": self.executor.running_node,
            "node_type": None,
            "executed": sorted(executed),
        }
        self._publish_run_event(Event.make("execution_interrupted", job.id, **data), job)
        self._publish_run_event(Event.make("executing", job.id, node=None, display_node=None), job)
        return ExecutionResult(job.id, "interrupted", executed=executed, error=data)

    def _interrupt(self, job: Job) -> None:
        """Interrupt ``job``, the running one. Call with the lock held."""
        self.executor.interrupt(job.id)  # stops it as it starts if the executor has not yet
        if self._worker is not None and self._worker.ident is not None:
            self._watchdog.arm(job, self._worker.ident)

    # --- for the auto-queue ---

    def _idle(self) -> bool:
        with self._cond:
            return not self._heap and self._running is None and self._stopping is None

    def _pending_count(self) -> int:
        with self._cond:
            return len(self._heap)

    def _notify(self) -> None:
        with self._cond:
            self._cond.notify_all()


class _Watchdog:
    """Forces an interrupt into the worker thread when a node ignores it for ``grace`` seconds,
    and gives the job up (``give_up(job, node)``) if the node still runs ``SETTLE`` s later.

    Armed by an interrupt, disarmed by the worker when the job's run returns.
    ``_lock`` makes "check, then raise" atomic with respect to disarming: once
    ``disarm`` returns, no asynchronous exception is pending or will be raised.
    ``give_up`` is called without the lock (it takes the queue's).
    """

    def __init__(self, executor: Executor, grace: float | None, give_up):
        self.executor = executor
        self.grace = grace
        self.give_up = give_up
        self._lock = threading.Lock()
        self._job: Job | None = None
        self._thread: int | None = None
        self._timers: list[threading.Timer] = []

    def arm(self, job: Job, thread: int) -> None:
        with self._lock:
            if self.grace is None or self._job is job:
                return
            self._job, self._thread = job, thread
            self._schedule(self.grace, self._check, job)

    def disarm(self, thread: int) -> None:
        with self._lock:
            self._job = None
            for timer in self._timers:
                timer.cancel()
            self._timers = []
            clear_in_thread(thread)

    def _schedule(self, seconds: float, check, *args) -> None:
        """Call ``check(*args)`` in ``seconds``. Call with the lock held."""
        timer = threading.Timer(seconds, check, args)
        timer.daemon = True
        self._timers = [t for t in self._timers if t.is_alive()] + [timer]
        timer.start()

    def _check(self, job: Job) -> None:
        """``grace`` seconds after the interrupt, then every ``grace`` seconds: force it into
        whichever node of the job runs."""
        with self._lock:
            if self._job is not job:
                return
            node = self.executor.running_node
            if (
                self.executor.running_prompt_id == job.id
                and node is not None
                and self.executor.force_interrupt(job.id, node, self._thread)
                and not job._finished
            ):
                self._schedule(SETTLE, self._settled, job, node)
            self._schedule(self.grace or DEFAULT_GRACE, self._check, job)

    def _settled(self, job: Job, node: str) -> None:
        with self._lock:
            if self._job is not job:
                return
        self.give_up(job, node)


def _copy_prompt(prompt: Any) -> dict:
    """A copy of ``prompt`` deep enough that editing its nodes or inputs leaves it unchanged.

    Input values themselves are shared (a tensor constant is not duplicated).
    """
    if not isinstance(prompt, dict):
        raise TypeError(f"a prompt is a dict of node id -> node, not {type(prompt).__name__}")
    copy = {}
    for node_id, node in prompt.items():
        if not isinstance(node, dict):
            raise TypeError(f"node {node_id!r} of the prompt is not a dict")
        node = dict(node)
        if isinstance(node.get("inputs"), dict):
            node["inputs"] = {
                name: list(value) if isinstance(value, list) else value
                for name, value in node["inputs"].items()
            }
        copy[str(node_id)] = node
    return copy


def _record(job: Job, result: ExecutionResult) -> dict:
    return {
        "prompt_id": job.id,
        "number": job.number,
        "status": result.status,
        "prompt": job.prompt,
        "targets": job.targets,
        "seeds": job.seeds,
        "extra_data": job.extra_data,
        "outputs": result.outputs,
        "executed": sorted(result.executed),
        "cached": sorted(result.cached),
        "reused": sorted(result.reused),
        "timings": result.timings,
        "error": result.error,
        "node_errors": result.node_errors,
        "queued_at": job.queued_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }
