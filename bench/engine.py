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

Two more columns tell the algorithm's growth from the machine's:

- ``calls``: Python function calls per node (builtins included) in the cold
  run and in the cached rerun, counted by ``cProfile`` in a run of its own. A
  linear engine makes the same number per node at every size.
- ``bare``: the same graph run by a bare Python loop (each node's function
  called with its inputs, in prompt order, which is topological here; no
  validation, caching or scheduling), µs per node. Its growth with N is what
  the memory hierarchy alone costs a Python program walking that many objects.

The last lines give, per graph, how much the time per node grows from the
largest size up to 1,000 nodes to the last size.
"""

from __future__ import annotations

import argparse
import cProfile
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
FUNCTIONS = {f.__name__: f for f in (source, inc, add, total)}


def bare(prompt: dict) -> dict:
    """Run ``prompt`` (in topological order) with nothing but the node calls."""
    values = {}
    for node_id, spec in prompt.items():
        kwargs = {
            name: values[value[0]][value[1]] if type(value) is list else value
            for name, value in spec["inputs"].items()
        }
        values[node_id] = (FUNCTIONS[spec["class_type"]](**kwargs),)
    return values


def calls_per_node(fn, size: int) -> float:
    profile = cProfile.Profile()
    profile.enable()
    fn()
    profile.disable()
    return sum(entry.callcount for entry in profile.getstats()) / size


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
    cached_calls = calls_per_node(lambda: executor.execute(prompt), size)

    change_times, changed_run = [], None
    for k in range(repeat):
        changed_prompt, _ = make(n, value=10**9 + k)  # a new value every time: never cached
        gc.collect()
        start = time.perf_counter()
        changed_run = executor.execute(changed_prompt)
        change_times.append(time.perf_counter() - start)
    change_s = min(change_times)
    ran = len(changed_run.executed)
    bare_s, _ = best(lambda: bare(prompt), repeat)
    counted = Executor(registry)
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
        "cold_calls": calls_per_node(lambda: counted.execute(prompt), size),
        "cached_calls": cached_calls,
        "bare": bare_s / size * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    header = (
        f"{'graph':8} {'nodes':>6} | {'validate':>8} | {'cold':>7} {'ran':>6} | "
        f"{'cached':>7} {'ran':>4} | {'1-change':>8} {'ran':>6} {'per ran':>8} | "
        f"{'calls':>11} | {'bare':>5}"
    )
    print("µs per node of the graph (1-change: also µs per node that ran;")
    print("calls: Python calls per node, cold/cached; bare: a bare Python loop, µs per node)")
    print(header)
    print("-" * len(header))
    growth = []
    for name, make in GRAPHS.items():
        first = last = None
        for n in sizes:
            m = measure(make, n, args.repeat)
            if first is None or n <= 1000:
                first = m
            last = m
            calls = f"{m['cold_calls']:.0f}/{m['cached_calls']:.0f}"
            print(
                f"{name:8} {m['nodes']:>6} | {m['validate']:>8.2f} | {m['cold']:>7.2f} {m['cold_ran']:>6} | "
                f"{m['cached']:>7.2f} {m['cached_ran']:>4} | {m['change']:>8.2f} {m['change_ran']:>6} "
                f"{m['change_per_ran']:>8.2f} | {calls:>11} | {m['bare']:>5.2f}"
            )
        ratios = ", ".join(
            f"{label} {last[key] / first[key]:.2f}×"
            for label, key in (
                ("cold", "cold"),
                ("cached", "cached"),
                ("calls cold", "cold_calls"),
                ("calls cached", "cached_calls"),
                ("bare", "bare"),
            )
        )
        growth.append(f"{name:8} {first['nodes']} → {last['nodes']} nodes, per node: {ratios}")
    print()
    print("\n".join(growth))


if __name__ == "__main__":
    main()
