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

from . import hostile
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


# --- hostile files: each one a ModelFileError naming it, in bounded memory ---

TINY_CONFIG = TINY.to_dict()
PATCHES = {  # case → metadata entries (JSON text) replacing a tiny model's, expected message
    "config_deep": (
        {"config": '{"channels": ' + hostile.nested_json(100_000) + "}"},
        ": its 'config' metadata nests more than 16 levels deep",
    ),
    "diffusion_deep": (
        {"diffusion": hostile.nested_json(100_000)},
        ": its 'diffusion' metadata nests more than 16 levels deep",
    ),
    "config_long": (
        {"config": json.dumps({**TINY_CONFIG, "note": "x" * 2**20})},
        ": its 'config' metadata is 1,048,",
    ),
    "diffusion_not_json": (
        {"diffusion": "{timesteps: 5}"},
        ": its 'diffusion' metadata is not JSON",
    ),
    "diffusion_list": (
        {"diffusion": "[1, 2]"},
        ": bad 'diffusion' metadata: the diffusion config is not a JSON object but [1, 2]",
    ),
    "unet_config_list": (
        {"config": "[1, 2]"},
        ": bad PixelUNet config in its metadata: the config is not a JSON object",
    ),
}
TIMESTEPS = {
    "timesteps_text": ('"abc"', "'abc'"),
    "timesteps_null": ("null", "None"),
    "timesteps_true": ("true", "True"),
    "timesteps_fraction": ("100.5", "100.5"),
    "timesteps_zero": ("0", "0"),
    "timesteps_50M": ("50000000", "50000000"),  # loaded with +1.9 GB before
    "timesteps_1e9": ("1000000000", "1000000000"),
    "timesteps_inf": ("1e400", "inf"),
}
for case, (text, shown) in TIMESTEPS.items():
    PATCHES[case] = (
        {"diffusion": f'{{"timesteps": {text}}}'},
        ": bad 'diffusion' metadata: timesteps must be an integer from 1 to 10000, not " + shown,
    )
DIFFUSION = {
    "schedule_list": ({"schedule": ["cosine"]}, "unknown noise schedule ['cosine']"),
    "prediction_number": ({"prediction": 1}, "unknown prediction 1"),
    "linear_few_steps": (
        {"timesteps": 20, "schedule": "linear"},
        "the linear schedule needs more than 20 timesteps, not 20",
    ),
}
for case, (diffusion, message) in DIFFUSION.items():
    PATCHES[case] = ({"diffusion": json.dumps(diffusion)}, ": bad 'diffusion' metadata: " + message)
UNET = {
    "channels_text": ({"channels": "1632"}, "channels must be a list, not '1632'"),
    "channels_null": ({"channels": [8, None]}, "each level of channels must be an integer"),
    "attention_text": ({"attention": "no"}, "attention must be true or false, not 'no'"),
    "time_dim_odd": ({"time_dim": 15}, "time_dim must be even, not 15"),
    "image_size_true": ({"image_size": True}, "image_size must be an integer from 1 to 4096"),
    "config_huge": (  # ~5 G parameters declared over a file of 100 KB
        {"channels": [4096] * 8, "time_dim": 8192, "groups": 8},
        " does not match its architecture",
    ),
}
for case, (patch, message) in UNET.items():
    if not message.startswith(" does"):
        message = ": bad PixelUNet config in its metadata: " + message
    PATCHES[case] = ({"config": json.dumps({**TINY_CONFIG, **patch})}, message)

HUGE_SHAPES = {  # tensor headers declaring more than the file holds
    "shape_past_end": ([1_000_000, 1_000_000], [0, 4 * 10**12]),
    "shape_overflow": ([2**40, 2**40], [0, 64]),
}


@pytest.fixture(scope="module")
def hostile_outcomes(tmp_path_factory) -> tuple[dict, dict]:
    """case → file path, and case → what loading it in a capped child raised."""
    folder = tmp_path_factory.mktemp("hostile-models")
    state = tiny_unet().state_dict()
    metadata = {
        "architecture": "PixelUNet",
        "config": json.dumps(TINY_CONFIG),
        "diffusion": json.dumps({"timesteps": 100}),
    }
    paths = {}
    for case, (patch, _) in PATCHES.items():
        paths[case] = str(folder / f"{case}.safetensors")
        save_file(state, paths[case], metadata={**metadata, **patch})
    for case, (shape, offsets) in HUGE_SHAPES.items():
        paths[case] = str(folder / f"{case}.safetensors")
        header = {
            "__metadata__": metadata,
            "stem.weight": {"dtype": "F32", "shape": shape, "data_offsets": offsets},
        }
        hostile.raw_safetensors(paths[case], header, bytes(64))
    calls = {case: f"load_diffusion_model({path!r})" for case, path in paths.items()}
    calls["control"] = f"load_diffusion_model({str(folder / 'control.safetensors')!r}).timesteps"
    write_model(folder / "control.safetensors")
    outcomes = hostile.run_capped("from nodes.diffusion.loader import load_diffusion_model", calls)
    return paths, outcomes


@pytest.mark.parametrize("case", [*PATCHES, *HUGE_SHAPES])
def test_hostile_model_file_is_a_clear_error_in_bounded_memory(case, hostile_outcomes):
    paths, outcomes = hostile_outcomes
    outcome = outcomes[case]
    assert outcome["type"] == "ModelFileError", outcome
    if case in HUGE_SHAPES:
        expected = f"cannot read model file {paths[case]} ("
        assert outcome["message"].startswith(expected), outcome
        assert "truncated or not a safetensors file" in outcome["message"]
    else:
        expected = f"model file {paths[case]}{PATCHES[case][1]}"
        assert outcome["message"].startswith(expected), outcome
    assert outcomes["control"] == {"type": None, "value": "100"}  # the child loads real files


def test_json_entries_nest_up_to_the_bound_and_brackets_in_strings_do_not_count():
    parse = checkpoint.parse_json_entry
    assert parse("m.safetensors", "training", hostile.nested_json(16)) == json.loads(
        hostile.nested_json(16)
    )
    with pytest.raises(ModelFileError, match="m.safetensors: its 'training' metadata nests more"):
        parse("m.safetensors", "training", hostile.nested_json(17))
    text = json.dumps({"note": '"[{\\' * 100})  # escaped quotes and backslashes in a string
    assert parse("m.safetensors", "training", text) == json.loads(text)


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
