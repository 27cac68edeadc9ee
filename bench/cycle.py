"""Validation of a prompt with one long dependency cycle: time and the size of its report.

    python bench/cycle.py [--sizes 1000,10000,100000] [--repeat 3]

An output node fed by a cycle of N pass-through nodes. Prints, per N, the time
of ``validate_prompt`` (best of ``--repeat``) and of ``Executor.execute`` (which
validates, finds nothing valid to run and reports), and the size of the report
(the error and node errors as JSON). Goal (10,000 nodes): under 1 s, under 1 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]

from engine import Executor, NodeRegistry, node, validate_prompt  # noqa: E402


@node
def relay(x: int) -> int:
    return x


@node(output=True)
def sink(x: int) -> None:
    return None


def cycle(n: int) -> dict:
    prompt = {
        f"c{i}": {"class_type": "relay", "inputs": {"x": [f"c{(i + 1) % n}", 0]}} for i in range(n)
    }
    prompt["out"] = {"class_type": "sink", "inputs": {"x": ["c0", 0]}}
    return prompt


def best(repeat: int, fn) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    registry = NodeRegistry()
    registry.register(relay)
    registry.register(sink)
    print(f"{'nodes':>8} {'validate ms':>12} {'execute ms':>11} {'report bytes':>13}")
    for n in (int(s) for s in args.sizes.split(",")):
        prompt = cycle(n)
        seconds, v = best(args.repeat, lambda p=prompt: validate_prompt(p, registry))
        executor = Executor(registry, cache="none")
        run_seconds, r = best(args.repeat, lambda p=prompt, e=executor: e.execute(p))
        assert not v.ok and r.status == "invalid"
        size = len(json.dumps({"error": v.error, "node_errors": v.node_errors}))
        print(f"{n:>8,} {seconds * 1000:>12.1f} {run_seconds * 1000:>11.1f} {size:>13,}")


if __name__ == "__main__":
    main()
