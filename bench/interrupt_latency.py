"""Interrupt latency: from ``PromptQueue.interrupt()`` to the ``execution_interrupted`` event.

    python bench/interrupt_latency.py [--repeat 5] [--grace 2.0]

Three node kinds, each interrupted ``--repeat`` times while it runs:
- progress: a loop calling ``engine.progress.update`` every millisecond; the
  interrupt flag is seen at the next tick. Goal: ≤ 50 ms.
- pure-Python loop: never calls progress; the queue's watchdog raises the
  interrupt in the worker thread ``--grace`` seconds after the request.
  Goal: ≤ grace + 100 ms.
- native call: one lock acquire (as ``time.sleep`` or a long C kernel) that
  no interrupt reaches; the queue gives the job up ``SETTLE`` seconds after
  forcing the interrupt. Measured to ``job.result()`` returning, what
  ``wb.run``'s caller waits for. Goal: ≤ grace + 500 ms (issue 10).

Prints the median and the worst latency per kind, in milliseconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time

# Run as a script, this file's folder comes first on sys.path, and bench/engine.py
# would shadow the engine package.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]

from engine import Executor, NodeRegistry, PromptQueue, node, progress  # noqa: E402

STARTED = threading.Event()
RELEASE = threading.Event()  # ends the native call
LIMIT = 120.0  # seconds: every loop ends by itself if an interrupt is lost


@node
def source(value: int = 0) -> int:
    return value


@node(output=True)
def ticking(x: int, run: int = 0) -> int:
    STARTED.set()
    deadline = time.monotonic() + LIMIT
    step = 0
    while time.monotonic() < deadline:
        step += 1
        progress.update(step, None)
        time.sleep(0.001)
    return x


@node(output=True)
def looping(x: int, run: int = 0) -> int:
    STARTED.set()
    deadline = time.monotonic() + LIMIT
    i = 0
    while time.monotonic() < deadline:
        i += 1
    return x


@node(output=True)
def native(x: int, run: int = 0) -> int:
    STARTED.set()
    RELEASE.wait(LIMIT)  # one native call
    return x


def measure_native(q: PromptQueue, repeat: int) -> list[float]:
    """Interrupt to ``job.result()`` returning, for a node stuck in a native call."""
    latencies = []
    for run in range(repeat):
        STARTED.clear()
        RELEASE.clear()
        prompt = {
            "1": {"class_type": "source", "inputs": {"value": 1}},
            "2": {"class_type": "native", "inputs": {"x": ["1", 0], "run": run}},
        }
        (job,) = q.submit(prompt)
        if not STARTED.wait(LIMIT):
            raise RuntimeError(f"native never started: {job.result(1)}")
        start = time.perf_counter()
        q.interrupt()
        status = job.result(LIMIT).status
        latencies.append(time.perf_counter() - start)
        if status != "interrupted" or q.stopping() is None:
            raise RuntimeError(f"native: status {status}, stopping {q.stopping()}")
        RELEASE.set()
        q.join(LIMIT)  # the worker is back from the node
    return latencies


def measure(q: PromptQueue, node_type: str, repeat: int) -> list[float]:
    stopped = threading.Event()
    stamp: list[float] = []

    def on_event(event) -> None:
        if event.type == "execution_interrupted":
            stamp.append(time.perf_counter())
            stopped.set()

    unsubscribe = q.subscribe(on_event)
    latencies = []
    try:
        for run in range(repeat):
            STARTED.clear()
            stopped.clear()
            stamp.clear()
            prompt = {
                "1": {"class_type": "source", "inputs": {"value": 1}},
                "2": {"class_type": node_type, "inputs": {"x": ["1", 0], "run": run}},
            }
            (job,) = q.submit(prompt)
            if not STARTED.wait(LIMIT):
                raise RuntimeError(f"{node_type} never started: {job.result(1)}")
            time.sleep(0.2)  # let it settle into its loop
            start = time.perf_counter()
            q.interrupt()
            if not stopped.wait(LIMIT):
                raise RuntimeError(f"{node_type} was not interrupted")
            latencies.append(stamp[0] - start)
            status = job.result(LIMIT).status
            if status != "interrupted":
                raise RuntimeError(f"{node_type}: status {status}")
    finally:
        unsubscribe()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--grace", type=float, default=2.0)
    args = parser.parse_args()
    registry = NodeRegistry()
    for fn in (source, ticking, looping, native):
        registry.register(fn)
    q = PromptQueue(Executor(registry), grace=args.grace)
    goals = {"ticking": 0.050, "looping": args.grace + 0.100, "native": args.grace + 0.500}
    labels = {
        "ticking": "progress ticks",
        "looping": "pure-Python loop",
        "native": "native: result",
    }
    print(f"interrupt() -> execution_interrupted, {args.repeat} runs each, grace {args.grace} s")
    try:
        for node_type in ("ticking", "looping", "native"):
            if node_type == "native":
                latencies = measure_native(q, args.repeat)
            else:
                latencies = measure(q, node_type, args.repeat)
            median = statistics.median(latencies)
            verdict = "ok" if median <= goals[node_type] else "OVER GOAL"
            print(
                f"  {labels[node_type]:<17} median {median * 1000:8.1f} ms   "
                f"worst {max(latencies) * 1000:8.1f} ms   "
                f"goal <= {goals[node_type] * 1000:.0f} ms   {verdict}"
            )
    finally:
        RELEASE.set()
        q.close()


if __name__ == "__main__":
    main()
