"""Model files: safetensors with the architecture in the metadata, and the loader node."""

from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors.torch import save_file

from engine import Executor, NodeRegistry
from nodes import folders, register_all
from nodes.diffusion import checkpoint, files, loader
from nodes.diffusion.checkpoint import ModelFileError, load_checkpoint
from nodes.diffusion.unet import UNetConfig

from .diffusion_helpers import TINY, tiny_unet, write_model


def loader_prompt(name: str) -> dict:
    return {"1": {"class_type": "SafetensorsModelLoader", "inputs": {"model_name": name}}}


# --- the file format ---


def test_round_trip_rebuilds_the_module_from_the_metadata(models):
    module = write_model(models / "m.safetensors", extra={"training": {"steps": 7}})
    loaded = load_checkpoint(models / "m.safetensors")
    assert loaded.architecture == "PixelUNet"
    assert UNetConfig.from_dict(loaded.config) == TINY
    assert loaded.json("training") == {"steps": 7}
    assert not loaded.module.training
    for name, value in module.state_dict().items():
        assert torch.equal(loaded.module.state_dict()[name], value), name
    x, t = torch.randn(2, 3, 8, 8), torch.tensor([3, 50])
    assert torch.allclose(loaded.module(x, t), module.eval()(x, t))


def test_float16_files_load_as_float32(models):
    module = tiny_unet()
    checkpoint.save_checkpoint(module, models / "h.safetensors", "PixelUNet", TINY.to_dict())
    loaded = load_checkpoint(models / "h.safetensors")
    weight = loaded.module.stem.weight
    assert weight.dtype == torch.float32
    assert torch.equal(weight, module.stem.weight.half().float())


def test_missing_file(models):
    with pytest.raises(ModelFileError, match="model file not found: .*nothere.safetensors"):
        load_checkpoint(models / "nothere.safetensors")


@pytest.mark.parametrize("keep", [0, 5, 200, -1000])
def test_truncated_file(models, keep):
    path = models / "cut.safetensors"
    write_model(path)
    data = path.read_bytes()
    path.write_bytes(data[:keep] if keep >= 0 else data[:keep])
    with pytest.raises(ModelFileError, match=r"cut.safetensors \(\d+ bytes\): truncated"):
        load_checkpoint(path)


def test_not_a_safetensors_file(models):
    path = models / "junk.safetensors"
    path.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00not json")
    with pytest.raises(ModelFileError, match="truncated or not a safetensors file"):
        load_checkpoint(path)


def test_file_without_architecture(models):
    path = models / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(path), metadata={"format": "pt"})
    with pytest.raises(ModelFileError, match=r"no 'architecture' in its metadata.*\['format'\]"):
        load_checkpoint(path)


def test_unknown_architecture(models):
    path = models / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(path), metadata={"architecture": "StableCascade"})
    with pytest.raises(ModelFileError, match="'StableCascade', which is not known.*PixelUNet"):
        load_checkpoint(path)


def test_bad_config(models):
    path = models / "cfg.safetensors"
    save_file(
        {"w": torch.zeros(2)},
        str(path),
        metadata={"architecture": "PixelUNet", "config": json.dumps({"depth": 3})},
    )
    with pytest.raises(
        ModelFileError, match="bad PixelUNet config.*unknown UNet config fields: depth"
    ):
        load_checkpoint(path)


def test_config_out_of_bounds_is_refused_before_building(models):
    path = models / "levels.safetensors"
    config = {**TINY.to_dict(), "channels": [8] * 1000}
    save_file(
        {"w": torch.zeros(2)},
        str(path),
        metadata={"architecture": "PixelUNet", "config": json.dumps(config)},
    )
    with pytest.raises(ModelFileError, match="bad PixelUNet config.*channels must list 1 to 8"):
        load_checkpoint(path)


def test_a_config_is_built_for_real_only_once_the_file_matches_it(models, monkeypatch):
    """Shapes are checked on the meta device: a config of ~100M parameters (400 MB if
    built) over a tiny file fails without the module ever being built in memory."""
    built = []

    def build(config):
        module = checkpoint.PixelUNet(UNetConfig.from_dict(config))
        built.append(next(module.parameters()).device.type)
        return module

    monkeypatch.setitem(checkpoint.ARCHITECTURES, "PixelUNet", build)
    path = models / "huge.safetensors"
    config = {**TINY.to_dict(), "channels": [1024, 1024], "groups": 8}
    save_file(
        tiny_unet().state_dict(),
        str(path),
        metadata={"architecture": "PixelUNet", "config": json.dumps(config)},
    )
    with pytest.raises(ModelFileError, match="does not match its architecture"):
        load_checkpoint(path)
    assert built == ["meta"]
    built.clear()
    write_model(models / "fits.safetensors")
    assert load_checkpoint(models / "fits.safetensors").module.stem.weight.device.type == "cpu"
    assert built == ["meta", "cpu"]


def test_missing_and_unexpected_keys(models):
    state = tiny_unet().state_dict()
    del state["stem.weight"]
    state["extra.bias"] = torch.zeros(3)
    path = models / "keys.safetensors"
    save_file(
        state,
        str(path),
        metadata={"architecture": "PixelUNet", "config": json.dumps(TINY.to_dict())},
    )
    with pytest.raises(ModelFileError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert "does not match its architecture" in message
    assert "missing keys: stem.weight" in message
    assert "unexpected keys: extra.bias" in message


def test_weights_of_another_config_are_wrong_shapes(models):
    """A file whose metadata describes one config but whose weights come from another."""
    wide = UNetConfig(image_size=8, channels=(8, 24), groups=4, time_dim=16)
    path = models / "shapes.safetensors"
    save_file(
        tiny_unet(wide).state_dict(),
        str(path),
        metadata={"architecture": "PixelUNet", "config": json.dumps(TINY.to_dict())},
    )
    with pytest.raises(
        ModelFileError,
        match=r"wrong shapes: .*out.weight: file \[24, 24, 1, 1\], model \[16, 16, 1, 1\].*in all",
    ):
        load_checkpoint(path)


# --- the loader node ---


def test_loader_lists_the_models_folder_and_the_shipped_weights(models, registry):
    write_model(models / "sub" / "a.safetensors")
    (models / "notes.txt").write_text("not a model")
    names = registry.object_info("SafetensorsModelLoader")["SafetensorsModelLoader"]["input"][
        "required"
    ]["model_name"][0]
    assert "sub/a.safetensors" in names
    assert "shapes32.safetensors" in names  # shipped
    assert "notes.txt" not in names


def test_the_models_folder_is_in_the_configured_data_folder(models, tmp_path, ex):
    """``folders.configure(base_dir=...)`` (as ``Workbench(data_dir=...)``) moves it too."""
    elsewhere = tmp_path / "elsewhere"  # not $WORKBENCH_DATA_DIR
    folders.configure(base_dir=elsewhere)
    assert files.models_dir() == str(elsewhere / "models")
    write_model(elsewhere / "models" / "there.safetensors")
    assert files.find_model("there.safetensors") == str(elsewhere / "models" / "there.safetensors")
    assert ex.execute(loader_prompt("there.safetensors"), outputs=["1"]).status == "success"


def test_loader_missing_file_is_a_validation_error(models, ex):
    r = ex.execute(loader_prompt("gone.safetensors"), outputs=["1"])
    assert r.status == "invalid"
    messages = json.dumps(r.node_errors["1"]["errors"])
    assert "model file 'gone.safetensors' not found in" in messages


def test_loader_error_for_a_broken_file_names_the_file(models, ex):
    (models / "bad.safetensors").write_bytes(b"\x00" * 4)
    r = ex.execute(loader_prompt("bad.safetensors"), outputs=["1"])
    assert r.status == "error"
    assert r.error["exception_type"].endswith("ModelFileError")
    assert "bad.safetensors (4 bytes): truncated" in r.error["exception_message"]


def test_loader_escaping_names_are_not_found(models, tmp_path):
    write_model(tmp_path / "outside.safetensors")
    os.symlink(tmp_path / "outside.safetensors", models / "link.safetensors")
    assert files.find_model("../outside.safetensors") is None
    assert files.find_model(str(tmp_path / "outside.safetensors")) is None
    assert files.find_model("link.safetensors") is None
    assert "link.safetensors" not in files.list_models()


def test_listing_does_not_follow_a_linked_folder_out_of_the_models_folder(
    models, tmp_path, monkeypatch
):
    outside = tmp_path / "elsewhere"
    (outside / "deep").mkdir(parents=True)
    write_model(outside / "deep" / "outside.safetensors")
    os.symlink(outside, models / "linked")
    (models / "mine").mkdir()
    write_model(models / "mine" / "inside.safetensors")
    os.symlink(models / "mine", models / "alias")  # inside: listed once more, by its link
    os.symlink(models, models / "mine" / "loop")  # an ancestor: must not walk forever
    visited = []
    walk = os.walk

    def recording_walk(top, *args, **kwargs):
        for entry in walk(top, *args, **kwargs):
            visited.append(os.path.realpath(entry[0]))
            yield entry

    monkeypatch.setattr(files.os, "walk", recording_walk)
    names = files.list_models()
    assert {"mine/inside.safetensors", "alias/inside.safetensors"} <= set(names)
    assert "mine/loop/mine/inside.safetensors" not in names
    assert not any("outside" in name for name in names)
    assert not any(folder.startswith(str(outside)) for folder in visited), visited


@pytest.fixture
def load_count(monkeypatch):
    calls = []
    real = loader.load_diffusion_model

    def counting(path, name=""):
        calls.append(path)
        return real(path, name)

    monkeypatch.setattr(loader, "load_diffusion_model", counting)
    return calls


def test_loader_output_is_cached_across_runs(models, ex, load_count):
    write_model(models / "m.safetensors")
    r1 = ex.execute(loader_prompt("m.safetensors"), outputs=["1"])
    r2 = ex.execute(loader_prompt("m.safetensors"), outputs=["1"])
    assert (r1.executed, r2.executed, r2.cached) == ({"1"}, set(), {"1"})
    assert len(load_count) == 1


def test_loader_instance_keeps_the_model_without_an_outputs_cache(models, registry, load_count):
    """With cache="none" the loader runs every time, but its node instance keeps the module."""
    from engine import Executor

    ex = Executor(registry, cache="none")
    write_model(models / "m.safetensors")
    ex.execute(loader_prompt("m.safetensors"), outputs=["1"])
    r = ex.execute(loader_prompt("m.safetensors"), outputs=["1"])
    assert r.executed == {"1"}
    assert len(load_count) == 1


def test_loader_reloads_a_changed_file(models, ex, load_count):
    path = models / "m.safetensors"
    write_model(path, seed=0)
    ex.execute(loader_prompt("m.safetensors"), outputs=["1"])
    old = ex.get_output("1")[0]
    write_model(path, seed=1)
    os.utime(path, ns=(1, 1))  # a different modification time, even on coarse clocks
    r = ex.execute(loader_prompt("m.safetensors"), outputs=["1"])
    new = ex.get_output("1")[0]
    assert r.executed == {"1"} and len(load_count) == 2
    assert not torch.equal(old.network.stem.weight, new.network.stem.weight)


def test_models_folder_wins_over_shipped_weights(models):
    write_model(models / "shapes32.safetensors")
    assert files.find_model("shapes32.safetensors") == str(models / "shapes32.safetensors")


def test_shipped_weights(models):
    path = files.find_model("shapes32.safetensors")
    assert path == os.path.join(files.SHIPPED_DIR, "shapes32.safetensors")
    assert os.path.getsize(path) <= 5_000_000
    loaded = load_checkpoint(path)
    training = loaded.json("training")
    assert {"steps", "batch_size", "lr", "seed", "wall_seconds", "threads"} <= set(training)
    params = sum(p.numel() for p in loaded.module.parameters())
    assert 0.8e6 < params < 1.3e6
    model = loader.DiffusionModel.from_checkpoint(loaded)
    assert (model.timesteps, model.diffusion.schedule) == (1000, "cosine")


class ModelNameNode:
    """Outputs a model name as COMBO (the type a COMBO input accepts from a link)."""

    RETURN_TYPES = ("COMBO",)
    FUNCTION = "name"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("STRING", {})}}

    def name(self, value):
        return (value,)


def linked_loader_prompt(name: str) -> dict:
    return {
        "n": {"class_type": "ModelName", "inputs": {"value": name}},
        "1": {"class_type": "SafetensorsModelLoader", "inputs": {"model_name": ["n", 0]}},
    }


def test_a_linked_model_name_is_checked_when_it_runs(models):
    """Validation sees None for a link (ComfyUI semantics), so the check waits for the run."""
    reg = NodeRegistry()
    register_all(reg)
    reg.register(ModelNameNode, name="ModelName")
    ex = Executor(reg)
    write_model(models / "m.safetensors")
    r = ex.execute(linked_loader_prompt("m.safetensors"), outputs=["1"])
    assert r.status == "success", r.node_errors or r.error
    assert isinstance(ex.get_output("1")[0], loader.DiffusionModel)

    r = ex.execute(linked_loader_prompt("gone.safetensors"), outputs=["1"])
    assert r.status == "error" and r.error["node_id"] == "1"
    assert r.error["exception_type"].endswith("ModelFileError")
    assert "model file 'gone.safetensors' not found in" in r.error["exception_message"]
