"""Train the teaching diffusion model on generated shapes and write its safetensors file.

    nice python -m nodes.diffusion.train [--minutes 14] [--steps 6000] [--threads 2] [--out FILE]

Every step draws a fresh batch from ``shapes.shapes`` (seeded by the step, so
the data never repeats and does not depend on timing), noises it at uniform
random timesteps, and regresses v (or the noise, ``--prediction epsilon``) with min-SNR-γ
weighting, which speeds up convergence; bfloat16 autocast for speed (the
weights stay float32).

Training stops after ``--steps`` steps or ``--minutes`` of wall time, whichever
comes first, and the learning rate follows a cosine decay over whichever budget
is running out faster, so a run on a busy machine still ends with a decayed
rate (it just takes fewer steps). ``--minutes 0`` trains exactly ``--steps``
steps (bit-reproducible for a seed). The file holds an exponential moving
average of the weights (smoother samples than the last step's), in float16, with
the architecture, the diffusion config and the training config (including the
steps taken and the measured time) in its metadata.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import platform
import time

import torch

from .checkpoint import save_checkpoint
from .files import DEFAULT_MODEL, SHIPPED_DIR
from .schedule import DiffusionConfig, alphas_cumprod, training_target
from .shapes import shapes
from .unet import PixelUNet, UNetConfig

DEFAULT_OUT = os.path.join(SHIPPED_DIR, DEFAULT_MODEL)  # replaces the shipped default model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=6000, help="at most this many steps")
    parser.add_argument(
        "--minutes", type=float, default=14.0, help="at most this much wall time (0: no limit)"
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--ema", type=float, default=0.998, help="EMA decay of the weights")
    parser.add_argument("--prediction", choices=["v", "epsilon"], default="v")
    parser.add_argument(
        "--min-snr", type=float, default=5.0, help="min-SNR-γ loss weighting (0: off)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    train(args)


def train(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    unet_config = UNetConfig()
    diffusion = DiffusionConfig(prediction=args.prediction)
    model = PixelUNet(unet_config)
    ema = copy.deepcopy(model).requires_grad_(False)
    abar = alphas_cumprod(diffusion).float()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    warmup = min(100, args.steps // 10)
    budget = args.minutes * 60

    def progress(step: int) -> float:
        """How much of the run is done (0..1): of the steps, or of the time budget."""
        done = step / args.steps
        if budget > 0:
            done = max(done, (time.perf_counter() - start_wall) / budget)
        return min(done, 1.0)

    def lr_at(step: int, done: float) -> float:  # linear warm-up, then cosine down to 10%
        if step < warmup:
            return args.lr * (step + 1) / warmup
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * done)))

    params = sum(p.numel() for p in model.parameters())
    print(f"PixelUNet {unet_config.channels}: {params:,} parameters; {args.threads} threads")
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    losses: list[float] = []
    step = 0
    while step < args.steps:
        done = progress(step)
        if done >= 1.0:
            print(f"time budget reached after {step} steps")
            break
        x0 = shapes(args.batch_size, unet_config.image_size, seed=args.seed * 1_000_003 + step)
        x0 = x0.permute(0, 3, 1, 2) * 2 - 1
        t = torch.randint(diffusion.timesteps, (args.batch_size,))
        noise = torch.randn_like(x0)
        a = abar[t][:, None, None, None]
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise
        with torch.autocast("cpu", dtype=torch.bfloat16):
            predicted = model(x_t, t)
        target = training_target(x0, noise, a, diffusion.prediction)
        error = (predicted.float() - target).pow(2).mean(dim=(1, 2, 3))
        loss = (error * loss_weight(a.flatten(), diffusion.prediction, args.min_snr)).mean()
        lr = lr_at(step, done)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, p in zip(ema.parameters(), model.parameters(), strict=True):
                e.lerp_(p, 1 - decay)
        losses.append(loss.item())
        step += 1
        if step % 100 == 0:
            elapsed = time.perf_counter() - start_wall
            print(
                f"step {step:5d}  loss {sum(losses[-100:]) / 100:.4f}  "
                f"lr {lr:.2e}  {elapsed:6.0f} s",
                flush=True,
            )
    wall = time.perf_counter() - start_wall
    cpu = time.process_time() - start_cpu
    tail = losses[-100:]
    training = {
        "data": "nodes.diffusion.shapes (coloured shapes, 32x32, seeded per step)",
        "steps": step,
        "max_steps": args.steps,
        "minutes_budget": args.minutes,
        "autocast": "bfloat16",
        "min_snr_gamma": args.min_snr,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "ema_decay": args.ema,
        "seed": args.seed,
        "threads": args.threads,
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),
        "final_loss": round(sum(tail) / max(1, len(tail)), 5),
        "torch": torch.__version__,
        "machine": platform.machine(),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_checkpoint(
        ema,
        args.out,
        "PixelUNet",
        unet_config.to_dict(),
        extra={"diffusion": diffusion.to_dict(), "training": training},
    )
    size = os.path.getsize(args.out)
    print(
        f"wrote {args.out} ({size / 1e6:.2f} MB) after {step} steps: "
        f"{wall:.0f} s wall, {cpu:.0f} s CPU"
    )


def loss_weight(abar_t: torch.Tensor, prediction: str, gamma: float) -> torch.Tensor:
    """min-SNR-γ weighting (Hang et al. 2023): stop the nearly clean timesteps dominating.

    Expressed as a weight on the ε or v regression; 1 everywhere when ``gamma`` is 0.
    """
    if gamma <= 0:
        return torch.ones_like(abar_t)
    snr = abar_t / (1 - abar_t)
    clipped = snr.clamp(max=gamma)
    return clipped / (snr + 1) if prediction == "v" else clipped / snr


if __name__ == "__main__":
    main()
