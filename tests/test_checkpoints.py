import json

import pytest
import torch

import vae_core as vc
from vae_core import checkpoints
from vae_core.checkpoints import CONFIG_FILE, WEIGHTS_FILE


def _meta(model):
    return vc.make_metadata(model.config, dataset="digits", training={"beta": 1.0, "epochs": 1})


def _bare_weights(model) -> bytes:
    """Weights without the config in their header, as files before checkpoint format 3."""
    from safetensors.torch import save

    return save({k: v.contiguous() for k, v in model.state_dict().items()})


def test_round_trip_gives_identical_weights_and_outputs(tmp_path, tiny_model, tiny_images):
    vc.save_checkpoint(tmp_path / "ck", tiny_model, _meta(tiny_model))
    loaded = vc.load_checkpoint(tmp_path / "ck")
    for key, value in tiny_model.state_dict().items():
        assert torch.equal(value, loaded.model.state_dict()[key])
    assert torch.equal(vc.reconstruct(tiny_model, tiny_images), vc.reconstruct(loaded.model, tiny_images))
    assert loaded.config == tiny_model.config
    assert loaded.dataset_name == "digits"
    assert not loaded.model.training
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]  # no temp files


def test_a_checkpoint_for_another_shape_is_rejected_and_the_current_model_kept(tmp_path, tiny_model):
    other = vc.VAE(vc.ModelConfig(image_shape=(1, 8, 8), latent_dim=5, hidden=16))
    weights = _bare_weights(other)
    _, config_bytes = vc.checkpoint_bytes(tiny_model, _meta(tiny_model))  # config says latent_dim=3
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    with pytest.raises(vc.CheckpointError, match=r"decoder.0.weight has shape \(16, 5\), expected \(16, 3\)"):
        vc.model_from_bytes(weights, config_bytes)
    for key, value in tiny_model.state_dict().items():
        assert torch.equal(value, before[key])


def test_weights_of_another_architecture_name_the_missing_tensors(tiny_model):
    conv = vc.VAE(vc.ModelConfig(image_shape=(1, 8, 8), latent_dim=3, arch="conv", hidden=16))
    weights = _bare_weights(conv)
    _, config_bytes = vc.checkpoint_bytes(tiny_model, _meta(tiny_model))
    with pytest.raises(vc.CheckpointError, match="weights do not match a gaussian mlp model"):
        vc.model_from_bytes(weights, config_bytes)


@pytest.mark.parametrize(
    "config_bytes, message",
    [
        (b"{not json", "config is not valid JSON"),
        (b"[1, 2]", "must be an object with a 'model' object"),
        (b"[" * 50_000 + b"]" * 50_000, "config is not valid JSON"),  # nesting deeper than the parser goes
        (b'{"model": {"image_shape": [1, 8, 8]}, "dataset": "digits"}', "'dataset' must be an object"),
        (b'{"model": {"image_shape": [1, 8, 8]}, "dataset": {"name": "digits", "params": {"n": [1]}}}',
         "'dataset.params' must be an object of plain values"),
        (b'{"model": {"image_shape": [1, 8, 8]}, "training": {"beta": "x"}}', "invalid training settings: beta"),
        (b'{"model": {"image_shape": [1, 8, 8]}, "metrics": [1]}', "'metrics' must be an object"),
        (b'{"model": {"image_shape": [1, 8, 8]}, "metrics": {"test_loss": "low"}}', "metrics.test_loss"),
        (b'{"model": {"image_shape": [1, 8, 8]}, "name": ["x"]}', "'name' must be a string"),
        (json.dumps({"model": {"image_shape": [1, 8, 8], "latent_dim": 999}}).encode(), "latent_dim must be"),
    ],
)
def test_bad_configs_are_rejected_by_message(tiny_model, config_bytes, message):
    weights = _bare_weights(tiny_model)
    with pytest.raises(vc.CheckpointError, match=message):
        vc.model_from_bytes(weights, config_bytes)


def test_garbage_weights_are_rejected(tiny_model):
    _, config_bytes = vc.checkpoint_bytes(tiny_model, _meta(tiny_model))
    with pytest.raises(vc.CheckpointError, match="not a valid safetensors file"):
        vc.model_from_bytes(b"\x00" * 64, config_bytes)


def test_non_finite_weights_are_neither_saved_nor_loaded(tmp_path, tiny_model):
    from safetensors.torch import save

    broken = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    broken["to_mu.bias"][0] = float("nan")
    _, config_bytes = vc.checkpoint_bytes(tiny_model, _meta(tiny_model))
    with pytest.raises(vc.CheckpointError, match="to_mu.bias holds non-finite values"):
        vc.model_from_bytes(save(broken), config_bytes)
    model = vc.VAE(tiny_model.config)
    model.load_state_dict(broken)
    with pytest.raises(vc.CheckpointError, match="refusing to save non-finite weights"):
        vc.save_checkpoint(tmp_path / "bad", model, _meta(model))
    assert not (tmp_path / "bad" / WEIGHTS_FILE).exists()


def test_saving_over_a_checkpoint_replaces_it_whole(tmp_path, tiny_model):
    vc.save_checkpoint(tmp_path / "ck", tiny_model, _meta(tiny_model))
    other = vc.VAE(tiny_model.config)
    vc.save_checkpoint(tmp_path / "ck", other, _meta(other))
    loaded = vc.load_checkpoint(tmp_path / "ck")
    assert torch.equal(loaded.model.to_mu.weight, other.to_mu.weight)


@pytest.mark.parametrize("name", ["../evil", "a/b", "", ".hidden", "x" * 65, "a..b"])
def test_unsafe_checkpoint_names_are_refused(name):
    with pytest.raises(vc.CheckpointError, match="checkpoint names use letters"):
        vc.check_name(name)


def test_list_checkpoints_skips_incomplete_folders(tmp_path, tiny_model):
    vc.save_checkpoint(tmp_path / "good", tiny_model, _meta(tiny_model))
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / CONFIG_FILE).write_text("{}")
    infos = vc.list_checkpoints(tmp_path)
    assert [i.name for i in infos] == ["good"]
    assert infos[0].summary() == "digits · mlp · 3D · β=1"


def test_missing_files_are_named(tmp_path):
    with pytest.raises(vc.CheckpointError, match="model.safetensors not found"):
        vc.load_checkpoint(tmp_path)


def test_shipped_checkpoints_load():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "checkpoints"
    infos = vc.list_checkpoints(root)
    assert {"digits-2d", "digits-10d"} <= {i.name for i in infos}
    for info in infos:
        ck = vc.load_checkpoint(info.path)
        assert ck.dataset_name in vc.DATASETS
        # the largest, the sprites MLPs (two 512-wide layers each side of 64×64), ship in float16: 9.4 MB
        assert (info.path / WEIGHTS_FILE).stat().st_size < 10 * 1024 * 1024


def test_float8_weights_are_refused_by_message(tiny_model):
    from safetensors.torch import save

    state = {k: v.to(torch.float8_e4m3fn) for k, v in tiny_model.state_dict().items()}
    _, config_bytes = vc.checkpoint_bytes(tiny_model, _meta(tiny_model))
    with pytest.raises(vc.CheckpointError, match="expected float16, bfloat16, float32 or float64"):
        vc.model_from_bytes(save(state), config_bytes)


def test_a_malformed_config_on_disk_is_skipped_not_fatal(tmp_path, tiny_model):
    vc.save_checkpoint(tmp_path / "good", tiny_model, _meta(tiny_model))
    (tmp_path / "bad").mkdir()  # a version-2 folder: the config only in config.json
    (tmp_path / "bad" / WEIGHTS_FILE).write_bytes(_bare_weights(tiny_model))
    (tmp_path / "bad" / CONFIG_FILE).write_text('{"model": {"image_shape": [1, 8, 8]}, "dataset": "digits"}')
    assert [i.name for i in vc.list_checkpoints(tmp_path)] == ["good"]


def test_compact_copy_halves_the_weights_keeps_the_outputs_and_drops_the_optimiser(tmp_path, tiny_model, tiny_images):
    from vae_core.checkpoints import STATE_FILE
    from vae_core.training.trainer import TrainerState

    g = torch.Generator().manual_seed(0)
    state = TrainerState(optimizer={"state": {0: {"exp_avg": torch.zeros_like(next(tiny_model.parameters()))}}},
                         noise_generator=g.get_state(), batch_generator=g.get_state(), epochs_done=1, steps_done=3)
    vc.save_checkpoint(tmp_path / "src", tiny_model, _meta(tiny_model), state=state)
    vc.compact_checkpoint(tmp_path / "src", tmp_path / "dst")
    src_bytes = (tmp_path / "src" / WEIGHTS_FILE).stat().st_size
    dst_bytes = (tmp_path / "dst" / WEIGHTS_FILE).stat().st_size
    params = sum(p.numel() for p in tiny_model.parameters())
    assert src_bytes - dst_bytes >= 2 * params  # 4 → 2 bytes per weight
    assert not (tmp_path / "dst" / STATE_FILE).exists() and (tmp_path / "src" / STATE_FILE).exists()
    copy = vc.load_checkpoint(tmp_path / "dst")
    assert copy.metadata["weights_dtype"] == "float16" and "resume" not in copy.metadata
    with torch.no_grad():
        mu, _ = tiny_model.encode(tiny_images)
        mu16, _ = copy.model.encode(tiny_images)
    assert 0 < (mu - mu16).abs().max() < 1e-2  # rounded to float16, not changed
    checkpoints.update_metadata(tmp_path / "dst", {"note": "metrics"})  # later saves keep the narrow dtype
    assert (tmp_path / "dst" / WEIGHTS_FILE).stat().st_size == pytest.approx(dst_bytes, abs=64)


def test_compact_refuses_its_own_folder_and_weights_float16_cannot_hold(tmp_path, tiny_model):
    vc.save_checkpoint(tmp_path / "src", tiny_model, _meta(tiny_model))
    with pytest.raises(vc.CheckpointError, match="another folder"):
        vc.compact_checkpoint(tmp_path / "src", tmp_path / "src")
    with pytest.raises(vc.CheckpointError, match="dtype must be one of float32, float16, bfloat16"):
        vc.compact_checkpoint(tmp_path / "src", tmp_path / "dst", "int8")
    with torch.no_grad():
        next(tiny_model.parameters())[0, 0] = 1e6  # beyond float16's 65,504
    vc.save_checkpoint(tmp_path / "big", tiny_model, _meta(tiny_model))
    with pytest.raises(vc.CheckpointError, match=r"non-finite weights in .* \(as float16\)"):
        vc.compact_checkpoint(tmp_path / "big", tmp_path / "dst")
    assert not (tmp_path / "dst").exists()


def test_compact_command_prints_the_sizes(tmp_path, tiny_model, capsys):
    from vae_core.compact import main

    vc.save_checkpoint(tmp_path / "src", tiny_model, _meta(tiny_model))
    assert main(["--checkpoint", str(tmp_path / "src"), "--out", str(tmp_path / "dst")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dtype"] == "float16" and out["folder_bytes_after"] < out["folder_bytes_before"]
    assert main(["--checkpoint", str(tmp_path / "missing"), "--out", str(tmp_path / "x")]) == 2
    assert "model.safetensors not found" in capsys.readouterr().err
