"""Engine overhead on graphs of trivial nodes: µs per node, and how many nodes ran.

    python bench/engine.py [--sizes 100,1000,10000] [--repeat 3]

Graphs:
- chain:   a source and N-1 increments, each linked to the previous one;
- fan-in:  N-1 sources feeding one node that sums them all;
- lattice: a √N×√N grid; the first row and column are sources, every other
           cell adds its upper and left neighbours (a lattice of diamonds).

Per graph and size: validate (``validate_prompt`` alone), cold run (a new
executor), fully cached rerun, and a rerun after one source changes, each as
µs per node of the graph, with the count of nodes whose function ran. The
one-change rerun is also given per node that ran: it should stay flat, since
only the nodes downstream of the change run. Figures are the best of
``--repeat`` runs. The goals are in the README.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import sys
import time

# Run as a script, this file's folder comes first on sys.path and its own name
# ("engine") would shadow the engine package.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]

from engine import Executor, NodeRegistry, node, validate_prompt  # noqa: E402


@node
def source(value: int = 0) -> int:
    return value


@node
def inc(x: int) -> int:
    return x + 1


@node
def add(a: int, b: int) -> int:
    return a + b


@node(output=True)
def total(**values: int) -> None:
    sum(values.values())


def chain(n: int, value: int = 0) -> tuple[dict, str]:
    prompt = {"0": {"class_type": "source", "inputs": {"value": value}}}
    for i in range(1, n - 1):
        prompt[str(i)] = {"class_type": "inc", "inputs": {"x": [str(i - 1), 0]}}
    prompt["out"] = {"class_type": "total", "inputs": {"x": [str(n - 2), 0]}}
    return prompt, "0"


def fan_in(n: int, value: int = 0) -> tuple[dict, str]:
    prompt = {str(i): {"class_type": "source", "inputs": {"value": i}} for i in range(n - 1)}
    prompt["0"]["inputs"]["value"] = value
    prompt["out"] = {"class_type": "total", "inputs": {f"v{i}": [str(i), 0] for i in range(n - 1)}}
    return prompt, "0"


def lattice(n: int, value: int = 0) -> tuple[dict, str]:
    side = max(2, math.isqrt(n))
    prompt = {}
    for i in range(side):
        for j in range(side):
            if i == 0 or j == 0:
                prompt[f"{i}_{j}"] = {"class_type": "source", "inputs": {"value": i + j}}
            else:
                prompt[f"{i}_{j}"] = {
                    "class_type": "add",
                    "inputs": {"a": [f"{i - 1}_{j}", 0], "b": [f"{i}_{j - 1}", 0]},
                }
    last = f"{side - 1}_{side - 1}"
    prompt["out"] = {"class_type": "total", "inputs": {"x": [last, 0]}}
    # The changed source is mid-row: about half the lattice is downstream of it.
    changed = f"0_{side // 2}"
    prompt[changed]["inputs"]["value"] = value
    return prompt, changed


GRAPHS = {"chain": chain, "fan-in": fan_in, "lattice": lattice}


def best(fn, repeat: int):
    times, result = [], None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def measure(make, n: int, repeat: int) -> dict:
    registry = NodeRegistry()
    for fn in (source, inc, add, total):
        registry.register(fn)
    prompt, _ = make(n)
    size = len(prompt)

    validate_s, _ = best(lambda: validate_prompt(prompt, registry), repeat)

    def cold():
        return Executor(registry).execute(prompt)

    cold_s, cold_run = best(cold, repeat)
    assert cold_run.status == "success", cold_run.error

    executor = Executor(registry)
    executor.execute(prompt)
    cached_s, cached_run = best(lambda: executor.execute(prompt), repeat)

    change_times, changed_run = [], None
    for k in range(repeat):
        changed_prompt, _ = make(n, value=10**9 + k)  # a new value every time: never cached
        gc.collect()
        start = time.perf_counter()
        changed_run = executor.execute(changed_prompt)
        change_times.append(time.perf_counter() - start)
    change_s = min(change_times)
    ran = len(changed_run.executed)
    return {
        "nodes": size,
        "validate": validate_s / size * 1e6,
        "cold": cold_s / size * 1e6,
        "cold_ran": len(cold_run.executed),
        "cached": cached_s / size * 1e6,
        "cached_ran": len(cached_run.executed),
        "change": change_s / size * 1e6,
        "change_ran": ran,
        "change_per_ran": change_s / max(ran, 1) * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    header = (
        f"{'graph':8} {'nodes':>6} | {'validate':>8} | {'cold':>7} {'ran':>6} | "
        f"{'cached':>7} {'ran':>4} | {'1-change':>8} {'ran':>6} {'per ran':>8}"
    )
    print("µs per node of the graph (1-change: also µs per node that ran)")
    print(header)
    print("-" * len(header))
    for name, make in GRAPHS.items():
        for n in sizes:
            m = measure(make, n, args.repeat)
            print(
                f"{name:8} {m['nodes']:>6} | {m['validate']:>8.2f} | {m['cold']:>7.2f} {m['cold_ran']:>6} | "
                f"{m['cached']:>7.2f} {m['cached_ran']:>4} | {m['change']:>8.2f} {m['change_ran']:>6} "
                f"{m['change_per_ran']:>8.2f}"
            )


if __name__ == "__main__":
    main()
