import pytest
import torch

import vae_core as vc


@pytest.fixture(scope="module")
def digits():
    return vc.load_dataset("digits")


def _model(data, latent=2, seed=0):
    torch.manual_seed(seed)
    return vc.VAE(vc.ModelConfig(image_shape=data.image_shape, latent_dim=latent, hidden=64))


def test_training_lowers_the_test_loss_and_reports_through_callbacks(digits):
    model = _model(digits)
    before = vc.evaluate_model(model, digits.test_images)["test_loss"]
    steps, epochs = [], []
    result = vc.fit(
        model, digits.train_images, vc.TrainConfig(epochs=3, batch_size=64, lr=3e-3),
        test_images=digits.test_images, on_step=steps.append, on_epoch=epochs.append,
    )
    assert result.error is None and not result.stopped
    assert len(steps) == 3 * 23 and result.steps == len(steps)  # ceil(1438 / 64) = 23 per epoch
    assert [e.epoch for e in epochs] == [1, 2, 3]
    assert epochs[-1].test_loss < before - 5
    assert len(epochs[-1].kl_per_dim) == 2
    assert sum(epochs[-1].kl_per_dim) == pytest.approx(epochs[-1].train_kl, rel=1e-4)
    assert result.samples == 3 * 1438 and result.samples_per_s > 0
    assert not model.training


def test_same_seed_gives_the_same_model(digits):
    cfg = vc.TrainConfig(epochs=1, batch_size=128, seed=3)
    a, b = _model(digits), _model(digits)
    vc.fit(a, digits.train_images, cfg)
    vc.fit(b, digits.train_images, cfg)
    assert torch.equal(a.to_mu.weight, b.to_mu.weight)


def test_a_split_used_in_place_trains_exactly_as_its_copy(digits):
    """TrainData(rows=...) reads the split's rows of the whole image tensor (no 1.3 GB copy of 80,000
    sprites); batches, test metrics and the trained weights are those of the copied split."""
    cfg = vc.TrainConfig(epochs=1, batch_size=128, seed=3)
    copied, in_place = _model(digits), _model(digits)
    a = vc.fit(copied, vc.TrainData(digits.train_images), cfg, test=vc.TrainData(digits.test_images))
    b = vc.fit(in_place, vc.TrainData(digits.images, rows=digits.train_index), cfg,
               test=vc.TrainData(digits.images, rows=digits.test_index))
    assert len(vc.TrainData(digits.images, rows=digits.train_index)) == len(digits.train_index)
    assert torch.equal(copied.to_mu.weight, in_place.to_mu.weight)
    assert a.epochs[-1].test_loss == b.epochs[-1].test_loss


def test_stop_flag_halts_within_one_batch(digits):
    calls = {"n": 0}

    def should_stop():
        calls["n"] += 1
        return calls["n"] > 5

    result = vc.fit(_model(digits), digits.train_images, vc.TrainConfig(epochs=50), should_stop=should_stop)
    assert result.stopped
    assert result.steps == 5


def test_kl_warmup_ramps_beta_per_step(digits):
    steps = []
    vc.fit(_model(digits), digits.train_images, vc.TrainConfig(epochs=2, beta=2.0, warmup_epochs=1),
           on_step=steps.append)
    assert steps[0].beta == 0.0
    assert steps[6].beta == pytest.approx(2.0 * 6 / 12)  # 12 steps per epoch at batch 128
    assert steps[-1].beta == 2.0


def test_non_finite_loss_stops_training_and_keeps_the_last_good_weights(digits):
    model = _model(digits)
    snapshots = {}

    def on_step(report):
        snapshots[report.global_step] = {k: v.clone() for k, v in model.state_dict().items()}

    calls = {"n": 0}

    def poison(module, args, output):  # the 4th forward pass produces NaN logits
        calls["n"] += 1
        return output * float("nan") if calls["n"] == 4 else output

    model.decoder.register_forward_hook(poison)
    result = vc.fit(model, digits.train_images, vc.TrainConfig(epochs=2), on_step=on_step)
    assert result.error is not None
    assert "epoch 1, step 4" in result.error and "kept the last weights" in result.error
    assert result.steps == 3
    # The weights after step 3 produced the NaN; the last ones that gave a finite loss (at step 3's
    # forward pass) are those left after step 2.
    for key, value in model.state_dict().items():
        assert torch.equal(value, snapshots[2][key])
        assert torch.isfinite(value).all()


def test_bfloat16_forward_trains_with_a_float32_loss_and_weights(digits):
    model = _model(digits)
    before = vc.evaluate_model(model, digits.test_images)["test_loss"]
    epochs = []
    result = vc.fit(model, digits.train_images, vc.TrainConfig(epochs=3, batch_size=64, lr=3e-3, precision="bf16"),
                    test_images=digits.test_images, on_epoch=epochs.append)
    assert result.error is None
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert epochs[-1].test_loss < before - 5


def test_unknown_precision_is_refused():
    with pytest.raises(vc.ConfigError, match="precision must be one of fp32, bf16"):
        vc.TrainConfig(precision="fp16")
