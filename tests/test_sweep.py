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
