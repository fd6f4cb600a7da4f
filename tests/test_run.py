"""One run function for the CLI and the app: records, checkpoints with history, exact continuation."""

import json

import pytest
import torch
from safetensors.torch import load_file

import vae_core as vc
from vae_core.train import main

SPEC = dict(dataset="digits", model={"latent_dim": 2, "hidden": 32}, training={"epochs": 4, "batch_size": 256})


def _weights(folder):
    return load_file(str(folder / "model.safetensors"))


def test_a_run_saves_its_per_epoch_history_in_the_checkpoint(tmp_path):
    outcome = vc.run_training(vc.RunSpec(**SPEC), tmp_path / "ck")
    ck = vc.load_checkpoint(tmp_path / "ck")
    history = ck.history
    assert [e.epoch for e in history] == [1, 2, 3, 4]
    assert history == outcome.record.history
    last = history[-1]
    assert set(last.train) == {"loss", "recon", "kl"}
    assert sum(last.kl_per_dim) == pytest.approx(last.train_kl, rel=1e-4)
    assert len(last.test["test_kl_per_dim"]) == 2 and 0 <= last.test["test_active_units"] <= 2
    assert ck.metadata["run"]["status"] == "done" and ck.metadata["resume"]["epochs_done"] == 4
    assert ck.metadata["metrics"]["test_loss"] == pytest.approx(last.test_loss, abs=1e-3)  # the final model


def test_a_run_asked_to_scores_its_disentanglement_and_saves_what_evaluate_would(tmp_path):
    from vae_core.metrics import SpriteOracle, evaluate_disentanglement

    spec = vc.RunSpec(dataset="sprites", dataset_params={"n": 1000}, model={"latent_dim": 3, "hidden": 32},
                      training={"epochs": 1, "batch_size": 256}, measure_disentanglement=True)
    vc.run_training(spec, tmp_path / "ck")
    ck = vc.load_checkpoint(tmp_path / "ck")
    saved = ck.metadata["disentanglement"]
    again = evaluate_disentanglement(ck.model, SpriteOracle()).summary()
    for score in ("mig", "dci_disentanglement", "sap", "factor_vae"):
        assert saved[score] == pytest.approx(again[score], abs=1e-6)
    assert len(saved["mutual_info"]) == 3 and saved["factor_names"][0] == "shape"
    # Without a factor oracle (digits) the flag records nothing.
    vc.run_training(vc.RunSpec(**{**SPEC, "measure_disentanglement": True}), tmp_path / "digits")
    assert "disentanglement" not in vc.load_checkpoint(tmp_path / "digits").metadata


def test_active_units_in_the_history_use_the_one_definition(tmp_path):
    vc.run_training(vc.RunSpec(**SPEC), tmp_path / "ck")
    ck = vc.load_checkpoint(tmp_path / "ck")
    data = vc.load_dataset("digits")
    mu, _ = vc.encode(ck.model, data.test_images)
    expected = vc.active_units(mu)
    recorded = ck.history[-1].test
    assert recorded["test_active_units"] == int(expected.sum())
    recorded_var = torch.tensor(recorded["test_mu_var"], dtype=torch.float64)
    assert torch.allclose(recorded_var, mu.var(dim=0).double(), rtol=1e-3, atol=1e-6)


def test_a_continued_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path):
    straight = tmp_path / "straight"
    vc.run_training(vc.RunSpec(**SPEC), straight)
    half = tmp_path / "half"
    vc.run_training(vc.RunSpec(**{**SPEC, "training": {**SPEC["training"], "epochs": 2}}), half)
    resumed = tmp_path / "resumed"
    outcome = vc.run_training(vc.RunSpec(**SPEC, resume_from=str(half)), resumed)
    a, b = _weights(straight), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [e.epoch for e in outcome.record.history] == [1, 2, 3, 4]
    assert vc.load_checkpoint(resumed).metadata["run"]["resumed_at"] == [2]


def test_a_continued_run_keeps_its_settings(tmp_path):
    vc.run_training(vc.RunSpec(**{**SPEC, "training": {"epochs": 1}}), tmp_path / "a")
    changed = vc.RunSpec(**{**SPEC, "training": {"epochs": 3, "lr": 0.01}}, resume_from=str(tmp_path / "a"))
    with pytest.raises(vc.ConfigError, match="only the number of epochs may change"):
        vc.run_training(changed, tmp_path / "b")
    again = vc.RunSpec(**{**SPEC, "training": {"epochs": 1}}, resume_from=str(tmp_path / "a"))
    with pytest.raises(vc.ConfigError, match="already has 1 epochs"):
        vc.run_training(again, tmp_path / "b")


def test_two_runs_with_one_seed_agree_without_touching_the_global_generator(tmp_path):
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a = vc.run_training(vc.RunSpec(**SPEC), None).model
    assert torch.equal(torch.random.get_rng_state(), before)  # nothing seeded or drew globally
    torch.manual_seed(999)
    b = vc.run_training(vc.RunSpec(**SPEC), None).model
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_cli_resume_continues_and_prints_the_summary(tmp_path, capsys):
    out = tmp_path / "ck"
    assert main(["--dataset", "digits", "--latent-dim", "2", "--hidden", "32", "--epochs", "1",
                 "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["--resume", str(out), "--epochs", "2", "--out", str(tmp_path / "more"), "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["epochs"] == 2 and summary["status"] == "done"
    assert main(["--resume", str(out), "--epochs", "3", "--lr", "0.1", "--out", str(tmp_path / "x"),
                 "--no-progress"]) == 2
    assert "--resume keeps the run's settings; drop --lr" in capsys.readouterr().err


def test_version_1_checkpoints_load_as_gaussian_models_with_an_empty_history(tmp_path, tiny_model):
    weights, config_bytes = vc.checkpoint_bytes(tiny_model, vc.make_metadata(tiny_model.config, dataset="digits"))
    meta = json.loads(config_bytes)
    meta["format"] = "latent-explorer-checkpoint/1"
    for key in ("history", "run"):
        meta.pop(key)
    meta["model"].pop("family")
    ck = vc.model_from_bytes(weights, json.dumps(meta).encode())
    assert ck.family == "gaussian" and ck.history == []
    meta["format"] = "latent-explorer-checkpoint/9"
    with pytest.raises(vc.CheckpointError, match="unknown checkpoint format"):
        vc.model_from_bytes(weights, json.dumps(meta).encode())


@pytest.mark.parametrize("bad, message", [
    ([{"epoch": 0, "train": {}}], "positive integer"),
    ([{"epoch": 2, "train": {}}, {"epoch": 1, "train": {}}], "must increase"),
    ([{"epoch": 1, "train": {"loss": "NaN"}}], "finite number"),
    ([{"epoch": 1, "train": {}, "code": "x"}], "unknown field"),
])
def test_a_malformed_history_is_refused_with_a_message(tiny_model, bad, message):
    meta = vc.make_metadata(tiny_model.config, dataset="digits")
    meta["history"] = bad
    weights, _ = vc.checkpoint_bytes(tiny_model, meta)
    config_bytes = json.dumps({**meta, "format": "latent-explorer-checkpoint/2"}).encode()
    with pytest.raises(vc.CheckpointError, match=message):
        vc.model_from_bytes(weights, config_bytes)
