"""The teaching pipeline's nodes: values, shapes, progress previews and interrupts."""

from __future__ import annotations

import math
import threading
import time

import pytest
import torch

from engine import Executor
from nodes.diffusion import files
from nodes.diffusion.images import grid
from nodes.diffusion.loader import load_diffusion_model
from nodes.diffusion.sampling import DiffusionSampler, PixelLatentFromImage
from nodes.diffusion.schedule import DiffusionConfig, alphas_cumprod, sample, timesteps_for
from nodes.diffusion.shapes import palette_fraction, shapes

from .diffusion_helpers import write_model


@pytest.fixture
def tiny(models):
    """A randomly initialised tiny model (T = 100) named "tiny.safetensors" in the models folder."""
    write_model(models / "tiny.safetensors")
    return "tiny.safetensors"


def pipeline(model_name, *, batch=2, size=8, seed=0, steps=4, sampler="ddim", denoise=1.0):
    return {
        "model": {"class_type": "SafetensorsModelLoader", "inputs": {"model_name": model_name}},
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
                "sampler_name": sampler,
                "latent_image": ["empty", 0],
                "denoise": denoise,
            },
        },
        "grid": {
            "class_type": "ImageGrid",
            "inputs": {"images": ["sampler", 0], "columns": 0, "padding": 1, "background": 1.0},
        },
    }


def run(ex, prompt, output):
    r = ex.execute(prompt, outputs=[output])
    assert r.status == "success", r.error or r.node_errors
    return ex.get_output(output)


# --- the noise schedule ---


def test_cosine_schedule_falls_from_one_to_zero():
    abar = alphas_cumprod(DiffusionConfig())
    assert abar.shape == (1000,)
    assert 0.9999 < abar[0] < 1 and abar[-1] < 1e-4
    assert bool((abar[1:] < abar[:-1]).all())
    # ᾱ_t = f(t+1)/f(0) with f(t) = cos²((t/T + s)/(1 + s)·π/2), s = 0.008 (no clipping mid-way)
    f = lambda t: math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2
    assert abar[499].item() == pytest.approx(f(500) / f(0), rel=1e-9)


def test_linear_schedule_matches_ddpm():
    abar = alphas_cumprod(DiffusionConfig(schedule="linear"))
    assert abar[0].item() == pytest.approx(1 - 1e-4)
    assert abar[1].item() == pytest.approx((1 - 1e-4) * (1 - (1e-4 + (0.02 - 1e-4) / 999)))


@pytest.mark.parametrize(
    ("steps", "denoise", "expected"),
    [
        (4, 1.0, [99, 66, 33, 0]),
        (1, 1.0, [99]),
        (3, 0.5, [50, 25, 0]),  # img2img: start half-way
        (10, 0.02, [2, 1, 0]),  # never more steps than timesteps left
    ],
)
def test_timesteps_visited(steps, denoise, expected):
    assert timesteps_for(steps, denoise, 100) == expected


def oracle_for(y: torch.Tensor, abar: torch.Tensor, prediction: str = "epsilon"):
    """The exact ε (or v) predictor when the data is the single image ``y``."""

    def predict(x, t):
        a = abar[t[0]].item()
        eps = (x - math.sqrt(a) * y) / math.sqrt(1 - a)
        return eps if prediction == "epsilon" else math.sqrt(a) * eps - math.sqrt(1 - a) * y

    return predict


@pytest.mark.parametrize("prediction", ["epsilon", "v"])
@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_sampling_with_an_exact_model_returns_the_data(eta, prediction):
    # float64: at t = 99, √ᾱ ≈ 5e-4 would magnify float32 rounding in x̂₀
    abar = alphas_cumprod(DiffusionConfig(timesteps=100))
    y = torch.rand(2, 3, 4, 4, dtype=torch.float64) * 2 - 1
    x = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    estimates = []
    out = sample(
        oracle_for(y, abar, prediction),
        x,
        [99, 60, 20, 0],
        abar,
        eta,
        torch.Generator().manual_seed(1),
        lambda i, x0: estimates.append(x0),
        prediction,
    )
    assert len(estimates) == 4
    assert all(torch.allclose(e, y, atol=1e-9) for e in estimates)
    assert torch.allclose(out, y, atol=1e-9)


def test_a_ddim_step_with_a_zero_noise_prediction_rescales_x():
    """ε̂ = 0 means x̂₀ = x_t/√ᾱ_t, and DDIM moves to √ᾱ_prev · x̂₀."""
    abar = alphas_cumprod(DiffusionConfig(timesteps=100)).float()
    x = torch.full((1, 1, 1, 1), 0.3)
    zero = lambda x, t: torch.zeros_like(x)
    out = sample(zero, x, [50, 10], abar, 0.0, torch.Generator())
    x0 = 0.3 / math.sqrt(abar[50].item())
    # step 1 lands on √ᾱ_10·x̂₀; step 2 estimates x̂₀ again (the same) and returns it
    assert out.item() == pytest.approx(min(x0, 1.0), rel=1e-5)


# --- simple nodes ---


def test_empty_latent_is_zeros_of_the_asked_shape(ex, tiny):
    prompt = {
        "e": {
            "class_type": "EmptyPixelLatent",
            "inputs": {"width": 16, "height": 8, "batch_size": 3},
        }
    }
    (latent,) = run(ex, prompt, "e")
    assert latent["samples"].shape == (3, 3, 8, 16)
    assert latent["samples"].dtype == torch.float32 and not latent["samples"].any()


def test_image_to_latent_scales_to_minus_one_one_and_drops_alpha(ex):
    image = torch.tensor([[[[0.0, 0.5, 1.0, 0.25]]]])  # [1,1,1,4]: RGBA
    prompt = {
        "i": {"class_type": "PixelLatentFromImage", "inputs": {"image": ["src", 0]}},
        "src": {"class_type": "GenerateShapes", "inputs": {"size": 8, "batch_size": 1, "seed": 0}},
    }
    (latent,) = PixelLatentFromImage().encode(image)
    assert latent["samples"].tolist() == [[[[-1.0]], [[0.0]], [[1.0]]]]
    (latent,) = run(ex, prompt, "i")
    assert latent["samples"].shape == (1, 3, 8, 8)


def test_grid_places_tiles_row_by_row():
    images = (
        torch.arange(5, dtype=torch.float32).reshape(5, 1, 1, 1).expand(5, 1, 2, 1)
    )  # 1×2 tiles
    out = grid(images, columns=2, padding=1, value=9.0)
    assert out.shape == (1, 3 * 1 + 4, 2 * 2 + 3, 1)
    expected = [
        [9, 9, 9, 9, 9, 9, 9],
        [9, 0, 0, 9, 1, 1, 9],
        [9, 9, 9, 9, 9, 9, 9],
        [9, 2, 2, 9, 3, 3, 9],
        [9, 9, 9, 9, 9, 9, 9],
        [9, 4, 4, 9, 9, 9, 9],  # the empty cell is background
        [9, 9, 9, 9, 9, 9, 9],
    ]
    assert out[0, :, :, 0].tolist() == expected


def test_grid_node_defaults_to_a_square_grid(ex):
    prompt = {
        "s": {"class_type": "GenerateShapes", "inputs": {"size": 8, "batch_size": 5, "seed": 1}},
        "g": {
            "class_type": "ImageGrid",
            "inputs": {"images": ["s", 0], "columns": 0, "padding": 0, "background": 0.0},
        },
    }
    (out,) = run(ex, prompt, "g")
    images = shapes(5, 8, seed=1)
    assert out.shape == (1, 16, 24, 3)  # ⌈√5⌉ = 3 columns, 2 rows
    assert torch.equal(out[0, 8:16, 0:8], images[3])
    assert not out[0, 8:16, 16:24].any()


def test_generated_shapes_are_seeded_and_on_the_palette():
    a, b, c = shapes(8, 16, seed=3), shapes(8, 16, seed=3), shapes(8, 16, seed=4)
    assert a.shape == (8, 16, 16, 3) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 1
    assert palette_fraction(shapes(64, 32, seed=5)).mean() > 0.9
    assert palette_fraction(torch.rand(16, 32, 32, 3)).mean() < 0.15


def test_add_noise_is_the_forward_process(ex, tiny):
    model = load_diffusion_model(files.find_model(tiny))
    image = shapes(2, 8, seed=0)
    prompt = {
        "m": {"class_type": "SafetensorsModelLoader", "inputs": {"model_name": tiny}},
        "s": {"class_type": "GenerateShapes", "inputs": {"size": 8, "batch_size": 2, "seed": 0}},
        "n": {
            "class_type": "DiffusionAddNoise",
            "inputs": {"model": ["m", 0], "image": ["s", 0], "timestep": 40, "seed": 7},
        },
    }
    noisy, latent = run(ex, prompt, "n")
    noise = torch.randn((2, 3, 8, 8), generator=torch.Generator().manual_seed(7))
    a = model.abar[40].item()
    x0 = image.permute(0, 3, 1, 2) * 2 - 1
    assert torch.allclose(
        latent["samples"], math.sqrt(a) * x0 + math.sqrt(1 - a) * noise, atol=1e-6
    )
    assert noisy.shape == (2, 8, 8, 3) and noisy.min() >= 0 and noisy.max() <= 1
    assert torch.allclose(noisy, ((latent["samples"].clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1))
    # t = 0 is nearly the clean image (T = 100 here: ᾱ_0 ≈ 0.9993).
    prompt["n"]["inputs"]["timestep"] = 0
    _, clean = run(ex, prompt, "n")
    assert model.abar[0] > 0.999
    assert (clean["samples"] - x0).abs().mean() < 0.03
    prompt["n"]["inputs"]["timestep"] = 100
    r = ex.execute(prompt, outputs=["n"])
    assert (
        r.status == "error"
        and "past the model's last timestep (99)" in r.error["exception_message"]
    )


# --- the sampler ---


def test_sampler_outputs_images_and_latents(ex, tiny):
    run(ex, pipeline(tiny, batch=3), "grid")
    images, latent = ex.get_output("sampler")
    assert images.shape == (3, 8, 8, 3) and images.dtype == torch.float32
    assert images.min() >= 0 and images.max() <= 1
    assert latent["samples"].shape == (3, 3, 8, 8)
    assert torch.allclose(images, ((latent["samples"].clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1))
    (tiles,) = ex.get_output("grid")
    assert tiles.shape == (1, 2 * 8 + 3, 2 * 8 + 3, 3)


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_sampler_outputs_are_ordinary_tensors_for_downstream_nodes(ex, tiny, sampler):
    """Not inference tensors: later nodes may work in place or differentiate through them."""
    images, latent = run(ex, pipeline(tiny, sampler=sampler), "sampler")
    for out in (images, latent["samples"]):
        assert not out.is_inference() and not out.requires_grad
        out.clone().mul_(1)
        leaf = out.clone().requires_grad_()
        (leaf * 2).sum().backward()
        assert torch.equal(leaf.grad, torch.full_like(out, 2.0))
    images.mul_(1)  # in place on the output itself, as a downstream node might


def test_ddim_is_deterministic_per_seed_and_ddpm_is_not_ddim(ex, tiny):
    a = run(ex, pipeline(tiny, seed=1), "sampler")[0]
    ex.reset()
    b = run(ex, pipeline(tiny, seed=1), "sampler")[0]
    c = run(ex, pipeline(tiny, seed=2), "sampler")[0]
    d = run(ex, pipeline(tiny, seed=1, sampler="ddpm"), "sampler")[0]
    assert torch.equal(a, b)
    assert not torch.allclose(a, c) and not torch.allclose(a, d)


def test_denoise_zero_returns_the_input_and_small_denoise_stays_close(ex, tiny):
    prompt = pipeline(tiny, denoise=0.0)
    prompt["src"] = {
        "class_type": "GenerateShapes",
        "inputs": {"size": 8, "batch_size": 2, "seed": 4},
    }
    prompt["empty"] = {"class_type": "PixelLatentFromImage", "inputs": {"image": ["src", 0]}}
    source = shapes(2, 8, seed=4)
    images, _ = run(ex, prompt, "sampler")
    assert torch.allclose(images, source, atol=1e-6)
    prompt["sampler"]["inputs"]["denoise"] = 0.05
    images, _ = run(ex, prompt, "sampler")
    assert (images - source).abs().mean() < 0.1


def test_sampler_rejects_sizes_the_unet_cannot_halve(tiny):
    model = load_diffusion_model(files.find_model(tiny))  # two levels: one halving
    odd = {"samples": torch.zeros(1, 3, 9, 8)}
    with pytest.raises(ValueError, match="multiples of 2 for this model, got 8×9"):
        DiffusionSampler().sample(model, 0, 2, "ddim", odd, 1.0)
    rgba = {"samples": torch.zeros(1, 4, 8, 8)}
    with pytest.raises(ValueError, match="3-channel images, got 4 channels"):
        DiffusionSampler().sample(model, 0, 2, "ddim", rgba, 1.0)


def test_every_step_reports_progress_with_a_preview_of_the_estimate(ex, tiny, monkeypatch):
    from engine import progress

    monkeypatch.setattr(progress, "MAX_RATE", 1e9)  # deliver every event
    events = []
    ex.subscribe(lambda e: events.append(e.data) if e.type == "progress" else None)
    run(ex, pipeline(tiny, batch=4, steps=5), "sampler")
    assert [(e["value"], e["max"]) for e in events] == [(i, 5) for i in range(1, 6)]
    preview = events[-1]["preview"]
    assert preview.shape == (1, 16, 16, 3)  # the batch of 4 as a 2×2 grid
    images, _ = ex.get_output("sampler")
    # The last estimate of x0 is the result.
    assert torch.allclose(preview, grid(images), atol=1e-6)


def test_new_seed_reruns_only_the_sampler_and_what_follows(ex, tiny):
    ex.execute(pipeline(tiny, seed=1), outputs=["grid"])
    r = ex.execute(pipeline(tiny, seed=2), outputs=["grid"])
    assert r.executed == {"sampler", "grid"}
    assert r.cached == {"model", "empty"}


@pytest.mark.parametrize("cache", ["classic", "lru"])
def test_interrupt_stops_at_a_step_boundary_and_keeps_the_model_cached(registry, tiny, cache):
    ex = Executor(registry, cache=cache)
    prompt = pipeline(tiny, batch=1, steps=100)
    ex.execute({"model": prompt["model"]}, outputs=["model"])  # load (and time) separately
    started = threading.Event()
    ex.subscribe(lambda e: started.set() if e.type == "progress" else None)
    result = {}

    def execute():
        result["r"] = ex.execute(prompt, outputs=["grid"])
        result["t"] = time.perf_counter()

    worker = threading.Thread(target=execute)
    worker.start()
    assert started.wait(10)
    interrupted_at = time.perf_counter()
    ex.interrupt()
    worker.join(10)
    r = result["r"]
    assert r.status == "interrupted"
    assert "sampler" not in r.executed and ex.get_output("sampler") is None
    # A tiny model's step takes a few ms: the run ends at the next step boundary.
    assert result["t"] - interrupted_at < 0.1
    again = ex.execute(prompt, outputs=["grid"])
    assert again.status == "success"
    assert "model" in again.cached and "model" not in again.executed


def test_every_node_is_documented_for_the_palette(registry):
    from nodes.diffusion import NODE_CLASS_MAPPINGS

    for name in NODE_CLASS_MAPPINGS:
        info = registry.object_info(name)[name]
        assert info["description"] and info["category"], name
        assert info["display_name"] != name or " " in name, name
        for group in ("required", "optional"):
            for input_name, spec in info["input"].get(group, {}).items():
                assert spec[1].get("tooltip"), f"{name}.{input_name} has no tooltip"
