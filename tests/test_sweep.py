"""The Compare page's sweep: values parsed and checked against the swept field, one run per value × seed."""

import pytest

import vae_core as vc
from ui import sweep


def test_values_are_parsed_deduplicated_and_bounded_by_the_field():
    assert sweep.parse_values("1, 4; 4, 8", "beta") == [1.0, 4.0, 8.0]
    with pytest.raises(vc.ConfigError, match="'x' is not a number"):
        sweep.parse_values("1, x", "beta")
    with pytest.raises(vc.ConfigError, match=r"must be in \[0, 1000\], got 5000"):
        sweep.parse_values("5000", "gamma")
    with pytest.raises(vc.ConfigError, match="at least one value"):
        sweep.parse_values(" , ", "capacity")


def test_each_objective_sweeps_its_own_setting():
    assert sweep.SWEPT == {"beta-vae": "beta", "beta-tcvae": "beta", "factor-vae": "gamma", "capacity": "capacity"}
    for objective, field in sweep.SWEPT.items():
        assert vc.applies(vc.params_of(vc.TrainConfig)[field][0], "gaussian", objective)


def _loaded(name: str):
    from pathlib import Path

    from ui.session import LoadedModel

    folder = Path(__file__).resolve().parents[1] / "checkpoints" / name
    return LoadedModel(key=name, choice=name, label=name, checkpoint=vc.load_checkpoint(folder), path=folder)


def test_a_sweep_over_a_factor_dataset_asks_its_runs_to_score_disentanglement():
    runs = sweep.specs(_loaded("sprites-beta4"), "beta-tcvae", [2.0, 6.0], 1, 3)
    assert [title for _, title in runs] == ["sweep beta-tcvae β=2 seed 0", "sweep beta-tcvae β=6 seed 0"]
    for spec, _ in runs:
        assert spec.measure_disentanglement and spec.dataset == "sprites"
        assert spec.model["arch"] == "broadcast" and spec.training["objective"] == "beta-tcvae"
        assert vc.RunSpec.from_dict(spec.to_dict()) == spec  # the flag crosses to the worker
    digits, _ = sweep.specs(_loaded("digits-10d"), "beta-vae", [1.0], 1, 3)[0]
    assert not digits.measure_disentanglement  # no factors, nothing to score
