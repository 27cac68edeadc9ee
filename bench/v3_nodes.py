"""What adapting a V3 node costs: a chain of N increments as V1 nodes and as V3 nodes.

    python bench/v3_nodes.py [--size 1000] [--repeat 5]

A V3 node runs through ``workbench.interop.adapter``: its hidden inputs are
split off, its dynamic inputs nested, ``execute`` is called on a per-call
subclass holding ``cls.hidden``, and its ``NodeOutput`` becomes a V1 result.
Prints µs per node for a cold run (a new executor) and a fully cached rerun,
for both, the best of ``--repeat``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

# bench/engine.py would shadow the engine package: this folder leaves sys.path.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]

from engine import Executor, NodeRegistry  # noqa: E402
from workbench.interop import comfy_io as io  # noqa: E402
from workbench.interop.adapter import v1_class  # noqa: E402


class AddOneV1:
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("INT", {"default": 0})}, "hidden": {"id": "UNIQUE_ID"}}

    def run(self, x, id=None):
        return (x + 1,)


class AddOneV3(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="AddOneV3",
            inputs=[io.Int.Input("x", default=0)],
            outputs=[io.Int.Output()],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, x) -> io.NodeOutput:
        return io.NodeOutput(x + 1)


def chain(class_type: str, size: int) -> dict:
    prompt = {"0": {"class_type": class_type, "inputs": {"x": 0}}}
    for i in range(1, size):
        prompt[str(i)] = {"class_type": class_type, "inputs": {"x": [str(i - 1), 0]}}
    return prompt


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    registry = NodeRegistry()
    registry.register(AddOneV1, name="AddOneV1")
    registry.register(v1_class(AddOneV3), name="AddOneV3")
    last = str(args.size - 1)
    for name in ("AddOneV1", "AddOneV3"):
        prompt = chain(name, args.size)

        def cold(prompt=prompt):
            ex = Executor(registry)
            assert ex.execute(prompt, outputs=[last]).status == "success"
            assert ex.get_output(last) == (args.size,)

        warm = Executor(registry)
        warm.execute(prompt, outputs=[last])
        cached = best(
            lambda warm=warm, prompt=prompt: warm.execute(prompt, outputs=[last]), args.repeat
        )
        per_node = 1e6 / args.size
        print(
            f"{name}: cold {best(cold, args.repeat) * per_node:6.1f} µs/node, "
            f"cached {cached * per_node:5.1f} µs/node ({args.size} nodes)"
        )


if __name__ == "__main__":
    main()
