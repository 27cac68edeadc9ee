"""Teaching diffusion model on the CPU: sampling time through the node graph, interrupt latency.

    python bench/diffusion.py [--batch 16] [--size 32] [--steps 50] [--repeat 3] [--threads 2]

Runs the graph SafetensorsModelLoader → EmptyPixelLatent → DiffusionSampler (DDIM)
→ ImageGrid with the shipped weights and reports:

- the model load time (first run), and the sampler's time per run (best and
  median of ``--repeat``, a new seed each time, so only the sampler and the grid
  run again), per step and per image; the goal is a batch of 16 at 32×32 with
  50 DDIM steps in under 10 s;
- interrupt latency: ``Executor.interrupt()`` from another thread half-way
  through sampling, timed until ``execute`` returns "interrupted". It should be
  at most one step plus 100 ms (the sampler stops at the next step boundary).
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

import torch  # noqa: E402

from engine import Executor, NodeRegistry  # noqa: E402
from nodes.diffusion import NODE_CLASS_MAPPINGS  # noqa: E402


def prompt(batch: int, size: int, steps: int, seed: int, model: str) -> dict:
    return {
        "model": {"class_type": "SafetensorsModelLoader", "inputs": {"model_name": model}},
        "empty": {
            "class_type": "EmptyPixelLatent",
            "inputs": {"width": size, "height": size, "batch_size": batch},
        },
        "sampler": {
            "class_type": "DiffusionSampler",
            "inputs": {
                "model": ["model", 0],
                "seed": seed,
                "steps": steps,
                "sampler_name": "ddim",
                "latent_image": ["empty", 0],
                "denoise": 1.0,
            },
        },
        "grid": {
            "class_type": "ImageGrid",
            "inputs": {"images": ["sampler", 0], "columns": 0, "padding": 2, "background": 1.0},
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default="shapes32.safetensors")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    registry = NodeRegistry()
    registry.load_mappings(NODE_CLASS_MAPPINGS)
    ex = Executor(registry, cache="classic")
    print(
        f"batch {args.batch} at {args.size}x{args.size}, {args.steps} DDIM steps, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}"
    )

    times = []
    for seed in range(args.repeat + 1):
        r = ex.execute(
            prompt(args.batch, args.size, args.steps, seed, args.model), outputs=["grid"]
        )
        assert r.status == "success", r.error
        if seed == 0:
            load = r.timings["model"]
            print(f"model load (first run): {load * 1000:.0f} ms")
            continue  # the first run also warms up the allocator and kernels
        assert r.executed == {"sampler", "grid"}, r.executed
        times.append(r.timings["sampler"])
    best, median = min(times), statistics.median(times)
    print(
        f"sampler: best {best:.2f} s, median {median:.2f} s over {len(times)} runs "
        f"({best / args.steps * 1000:.0f} ms/step, {best / args.batch * 1000:.0f} ms/image)"
        f"  goal < 10 s: {'ok' if best < 10 else 'MISSED'}"
    )

    # Interrupt half-way through a run, from another thread.
    step_time = best / args.steps
    seen = threading.Event()
    half = max(1, args.steps // 2)
    unsubscribe = ex.subscribe(
        lambda e: seen.set() if e.type == "progress" and e.data["value"] >= half else None
    )
    done = {}

    def run():
        done["r"] = ex.execute(
            prompt(args.batch, args.size, args.steps, 999, args.model), outputs=["grid"]
        )
        done["t"] = time.perf_counter()

    worker = threading.Thread(target=run)
    worker.start()
    seen.wait()
    asked = time.perf_counter()
    ex.interrupt()
    worker.join()
    unsubscribe()
    latency = done["t"] - asked
    r = done["r"]
    again = ex.execute(prompt(args.batch, args.size, 1, 0, args.model), outputs=["grid"])
    print(
        f"interrupt: status {r.status!r} {latency * 1000:.0f} ms after interrupt() "
        f"(a step takes {step_time * 1000:.0f} ms; goal <= step + 100 ms: "
        f"{'ok' if latency <= step_time + 0.1 else 'MISSED'}); "
        f"model loader cached on the next run: "
        f"{'model' in again.cached and 'model' not in again.executed}"
    )


if __name__ == "__main__":
    main()
