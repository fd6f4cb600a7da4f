import pytest

import vae_core as vc


def test_model_config_round_trips_through_dict():
    cfg = vc.ModelConfig(image_shape=(1, 28, 28), latent_dim=5, arch="conv", hidden=64)
    again = vc.ModelConfig.from_dict(cfg.to_dict())
    assert again == cfg
    assert again.image_shape == (1, 28, 28)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"latent_dim": 0}, "latent_dim must be an integer in 1..64"),
        ({"latent_dim": 65}, "latent_dim must be an integer in 1..64"),
        ({"arch": "rnn"}, "arch must be one of mlp, conv"),
        ({"image_shape": (2, 8, 8)}, "channels must be 1 or 3"),
        ({"image_shape": (1, 30, 30), "arch": "conv"}, "divisible by 4"),
        ({"hidden": True}, "hidden must be an integer"),
        ({"arch": "broadcast", "decoder_hidden": 64}, "the broadcast decoder's per-pixel width is fixed"),
    ],
)
def test_model_config_rejects_bad_values(kwargs, message):
    base = {"image_shape": (1, 8, 8)}
    with pytest.raises(vc.ConfigError, match=message):
        vc.ModelConfig(**{**base, **kwargs})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"lr": float("nan")}, "lr must be a number"),
        ({"lr": 0.0}, "lr must be a number"),
        ({"beta": -1.0}, "beta must be a number"),
        ({"epochs": 0}, "epochs must be an integer"),
        ({"batch_size": 2.5}, "batch_size must be an integer"),
    ],
)
def test_train_config_rejects_bad_values(kwargs, message):
    with pytest.raises(vc.ConfigError, match=message):
        vc.TrainConfig(**kwargs)


def test_from_dict_names_unknown_fields():
    with pytest.raises(vc.ConfigError, match="unknown field"):
        vc.ModelConfig.from_dict({"image_shape": [1, 8, 8], "layers": 3})


def test_kl_warmup_ramps_linearly():
    cfg = vc.TrainConfig(beta=4.0, warmup_epochs=2)
    assert cfg.beta_at(0.0) == 0.0
    assert cfg.beta_at(1.0) == pytest.approx(2.0)
    assert cfg.beta_at(2.0) == 4.0
    assert cfg.beta_at(5.0) == 4.0
    assert vc.TrainConfig(beta=3.0).beta_at(0.0) == 3.0


def test_every_hyper_parameter_declares_its_bounds_help_and_families_once():
    for cls in (vc.ModelConfig, vc.TrainConfig):
        for name, (param, default) in vc.params_of(cls).items():
            assert param.label and param.help, name
            assert set(param.families) <= set(vc.FAMILIES), name
            if param.choices:
                assert default in param.choices, name
            else:
                assert param.lo <= default <= param.hi, name


def test_cli_flags_and_their_defaults_come_from_the_config_fields():
    from vae_core.train import build_parser

    parser = build_parser()
    flags = {a.dest: a for a in parser._actions}
    for cls in (vc.ModelConfig, vc.TrainConfig):
        for name, (param, default) in vc.params_of(cls).items():
            if not param.widget:
                continue
            assert name in flags, name
            assert str(default) in flags[name].help, name  # the help states the one default
    assert flags["epochs"].default is None  # unset flags fall back to the config's default, not a copy


@pytest.mark.parametrize(
    "family, kwargs, message",
    [
        ("gaussian", {"labels": 100}, "labels applies to the m2 family, not to gaussian"),
        ("vq", {"beta": 4.0}, "beta applies to the gaussian and m2 families, not to vq"),
        ("m2", {"commitment": 0.5}, "commitment applies to the vq family, not to m2"),
    ],
)
def test_a_setting_of_another_family_is_refused_by_name(family, kwargs, message):
    with pytest.raises(vc.ConfigError, match=message):
        vc.TrainConfig(family=family, **kwargs)


def test_only_the_family_s_own_fields_are_saved():
    vq = vc.ModelConfig(image_shape=(1, 28, 28), family="vq", latent_dim=16, codebook_size=32)
    assert "codebook_size" in vq.to_dict() and "arch" not in vq.to_dict() and "n_classes" not in vq.to_dict()
    assert vc.ModelConfig.from_dict(vq.to_dict()) == vq
    m2 = vc.TrainConfig(family="m2", labels=100)
    assert m2.to_dict()["labels"] == 100 and "commitment" not in m2.to_dict()


def test_a_ramp_longer_than_the_run_is_refused_before_it_starts_but_old_records_still_load():
    with pytest.raises(vc.ConfigError, match=r"KL warm-up of 30 epochs is longer than the run \(10 epochs\): "
                       r"β would only reach 33% of its value"):
        vc.TrainConfig(epochs=10, warmup_epochs=30).check_schedule()
    with pytest.raises(vc.ConfigError, match=r"capacity ramp of 12 epochs .* C would only reach 83%"):
        vc.TrainConfig(epochs=10, objective="capacity", capacity_epochs=12).check_schedule()
    vc.TrainConfig(epochs=10, warmup_epochs=10).check_schedule()  # β reaches its value at the last step
    vc.TrainConfig(epochs=10, objective="capacity", capacity_epochs=0).check_schedule()  # 0: the whole run
    # a run saved before the check still reads (its record says what it did)
    assert vc.TrainConfig.from_dict({"epochs": 2, "warmup_epochs": 6}).warmup_epochs == 6
    with pytest.raises(vc.ConfigError, match="KL warm-up of 6 epochs"):
        vc.run_training(vc.RunSpec(dataset="digits", training={"epochs": 2, "warmup_epochs": 6}), None)
