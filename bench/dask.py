"""The Dask backend on a 2-worker LocalCluster: speed-up, overhead per node, cached reruns.

    python bench/dask.py [--heavy 8] [--seconds 1.0] [--trivial 200] [--graph 1000] [--repeat 3]

Prints, each figure the best of ``--repeat``:

1. ``--heavy`` independent CPU-bound torch nodes of ~``--seconds`` each, run
   locally (one thread, as one worker runs) and on the cluster: the speed-up;
   and the same functions given to ``client.submit`` directly (what the
   machine allows, without the engine).
2. The overhead per trivial node: ``--trivial`` independent nodes, then a
   chain of as many, through the engine on the cluster, against Dask's own
   ``client.submit`` (and ``gather``) of the same functions: µs per node and
   the ratio.
3. A fully cached rerun of a ``--graph``-node graph on the cluster: ms, and
   the number of tasks and transfers sent to the cluster (0 expected).
4. Interrupt latency: pure-Python nodes that ignore interrupts on both
   workers; from ``interrupt()`` to the run's return, and to the workers being
   free (the grace period is 2 s).

The node functions are defined here, in ``__main__``: they reach the workers
by value (cloudpickle), as functions defined in a notebook do.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time

# Run as a script, this file's folder comes first on sys.path and "dask.py"
# would shadow the dask package.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]

import torch  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

from engine import Executor, NodeRegistry, node, progress  # noqa: E402
from engine.backends.dask import DaskBackend  # noqa: E402
from engine.backends.worker import running_nodes  # noqa: E402


def burn(iterations: int, seed: int) -> float:
    """CPU-bound torch work on one thread: small matrix products."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(96, 96, generator=generator)
    w = torch.randn(96, 96, generator=generator) / 10
    for _ in range(iterations):
        x = torch.tanh(x @ w)
    return float(x.sum())


@node
def heavy(iterations: int = 1, seed: int = 0) -> float:
    torch.set_num_threads(1)  # one core per node, locally as on a worker
    return burn(iterations, seed)


@node
def trivial(x: int = 0) -> int:
    return x + 1


@node
def spin(seconds: float = 1.0, tag: int = 0) -> int:
    progress.update(0, 1)  # once: then it never looks at the interrupt flag
    deadline = time.monotonic() + seconds
    count = 0
    while time.monotonic() < deadline:
        count += 1
    return count


def plain_trivial(x):
    return x + 1


def heavy_plain(iterations: int, seed: int) -> float:
    torch.set_num_threads(1)
    return burn(iterations, seed)


def registry() -> NodeRegistry:
    reg = NodeRegistry()
    for fn in (heavy, trivial, spin):
        reg.register(fn)
    return reg


def best(repeat: int, run) -> float:
    return min(run() for _ in range(repeat))


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def check(r) -> None:
    if r.status != "success":
        raise SystemExit(f"run failed: {r.status} {r.error}")


def bench_heavy(client, count: int, seconds: float, repeat: int) -> None:
    torch.set_num_threads(1)
    seeds = iter(range(1, 10**9))

    def prompt() -> dict:  # new seeds each time: nothing comes from the cache
        return {
            str(i): {
                "class_type": "heavy",
                "inputs": {"iterations": iterations, "seed": next(seeds)},
            }
            for i in range(count)
        }

    local = Executor(registry(), cache="none")
    remote = Executor(registry(), cache="none", backend=DaskBackend(client))
    iterations = 1
    check(remote.execute(prompt(), outputs=["0"]))  # workers import torch, unpickle the node
    # Calibrated once the cluster is up and idle (its start loads the machine): the
    # best of three quarter-second samples.
    calibration = 2000
    per_iteration = min(timed(lambda: burn(calibration, 0)) for _ in range(3)) / calibration
    iterations = max(1, int(seconds / per_iteration))

    def run(ex) -> float:
        p = prompt()
        return timed(lambda: check(ex.execute(p, outputs=list(p))))

    def raw() -> float:  # Dask alone: the machine's own limit, submitting timed too
        return timed(
            lambda: client.gather(
                [client.submit(heavy_plain, iterations, next(seeds)) for _ in range(count)]
            )
        )

    # Interleaved, so that a change in the machine's load falls on all three alike.
    rounds = [(run(local), run(remote), raw()) for _ in range(repeat)]
    t_local, t_remote, t_raw = (min(column) for column in zip(*rounds, strict=True))
    print(f"{count} independent torch nodes of ~{seconds:.1f} s ({iterations} iterations each)")
    print(f"  local, one thread:       {t_local:7.2f} s")
    print(f"  LocalCluster, 2 workers: {t_remote:7.2f} s   speed-up {t_local / t_remote:.2f}x")
    print(f"  client.submit alone:     {t_raw:7.2f} s   speed-up {t_local / t_raw:.2f}x")


def bench_overhead(client, count: int, repeat: int) -> None:
    ex = Executor(registry(), cache="none", backend=DaskBackend(client))
    base = iter(range(10**6, 10**12, 10**6))

    def wide() -> dict:
        start = next(base)
        return {str(i): {"class_type": "trivial", "inputs": {"x": start + i}} for i in range(count)}

    def chain() -> dict:
        prompt = {"0": {"class_type": "trivial", "inputs": {"x": next(base)}}}
        for i in range(1, count):
            prompt[str(i)] = {"class_type": "trivial", "inputs": {"x": [str(i - 1), 0]}}
        return prompt

    def engine_run(make) -> float:
        prompt = make()
        return timed(lambda: check(ex.execute(prompt, outputs=list(prompt))))

    def raw_wide() -> float:
        start = next(base)

        def go():
            futures = [client.submit(plain_trivial, start + i) for i in range(count)]
            client.gather(futures)

        return timed(go)

    def raw_chain() -> float:
        start = next(base)

        def go():
            future = client.submit(plain_trivial, start)
            futures = [future]
            for _ in range(1, count):
                future = client.submit(plain_trivial, future)
                futures.append(future)
            client.gather(futures)

        return timed(go)

    engine_run(wide)  # warm: the workers unpickle the node once
    print(f"overhead per trivial node ({count} nodes), µs per node")
    for name, make, raw in (("independent", wide, raw_wide), ("chain", chain, raw_chain)):
        rounds = [(engine_run(make), raw()) for _ in range(repeat)]  # interleaved
        t_engine, t_raw = (min(column) for column in zip(*rounds, strict=True))
        print(
            f"  {name:11s}  engine on Dask {1e6 * t_engine / count:8.0f}   "
            f"client.submit {1e6 * t_raw / count:8.0f}   ratio {t_engine / t_raw:.2f}x"
        )


def bench_cached(client, size: int, repeat: int) -> None:
    backend = DaskBackend(client)
    ex = Executor(registry(), backend=backend)
    prompt = {"0": {"class_type": "trivial", "inputs": {"x": 0}}}
    for i in range(1, size):
        prompt[str(i)] = {"class_type": "trivial", "inputs": {"x": [str(i - 1), 0]}}
    check(ex.execute(prompt, outputs=[str(size - 1)]))
    sent = []
    for name in ("submit", "gather", "run", "cancel", "scatter"):
        original = getattr(client, name)
        setattr(client, name, lambda *a, _o=original, _n=name, **k: sent.append(_n) or _o(*a, **k))
    try:
        t = best(repeat, lambda: timed(lambda: check(ex.execute(prompt, outputs=[str(size - 1)]))))
    finally:
        for name in ("submit", "gather", "run", "cancel", "scatter"):
            delattr(client, name)
    print(
        f"cached rerun of a {size}-node chain on Dask: {1000 * t:.1f} ms "
        f"({1e6 * t / size:.1f} µs per node); calls to the cluster: {len(sent)}"
    )


def bench_interrupt(client, repeat: int) -> None:
    backend = DaskBackend(client, grace=2.0)
    ex = Executor(registry(), cache="none", backend=backend)
    tags = iter(range(10**9))
    returns, frees = [], []
    for _ in range(repeat):
        started = threading.Event()
        seen: set = set()

        def on_event(event, seen=seen, started=started):
            if event.type == "progress":
                seen.add(event.data["node"])
                if len(seen) == 2:
                    started.set()

        unsubscribe = ex.subscribe(on_event)
        prompt = {
            f"s{i}": {"class_type": "spin", "inputs": {"seconds": 120.0, "tag": next(tags)}}
            for i in range(2)
        }
        box = {}
        thread = threading.Thread(target=lambda p=prompt, b=box: b.update(r=ex.execute(p, list(p))))
        thread.start()
        if not started.wait(120):
            raise SystemExit("the spinning nodes did not start")
        asked = time.perf_counter()
        ex.interrupt()
        thread.join()
        returns.append(time.perf_counter() - asked)
        while any(client.run(running_nodes).values()):  # Dask forgets cancelled tasks at once
            time.sleep(0.01)
        frees.append(time.perf_counter() - asked)
        unsubscribe()
        if box["r"].status != "interrupted":
            raise SystemExit(f"expected interrupted, got {box['r'].status}")
    print(
        f"interrupt of nodes ignoring it (grace 2 s): run returned after "
        f"{1000 * min(returns):.0f} ms, workers free after {min(frees):.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heavy", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--trivial", type=int, default=200)
    parser.add_argument("--graph", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        print(f"LocalCluster: 2 worker processes, 1 thread each; {os.cpu_count()} cores here")
        print(f"load average now: {', '.join(f'{x:.1f}' for x in os.getloadavg())}\n")
        bench_heavy(client, args.heavy, args.seconds, args.repeat)
        print()
        bench_overhead(client, args.trivial, args.repeat)
        print()
        bench_cached(client, args.graph, args.repeat)
        print()
        bench_interrupt(client, args.repeat)
        print(f"\nload average now: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
