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
