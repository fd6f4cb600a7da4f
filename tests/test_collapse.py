"""Posterior collapse named, and the remedies: cyclical annealing, free bits, a lower β, a smaller decoder."""

from __future__ import annotations

import pytest
import torch

import vae_core as vc
from vae_core.analysis.collapse import REMEDIES, apply_remedy, collapse_of, remedies_for
from vae_core.models.base import StepContext


def test_collapse_names_the_dimensions_and_tells_partial_from_whole():
    partial = collapse_of([0.001, 0.002, 0.3])
    assert partial.collapsed == (0, 1) and partial.some and not partial.whole
    assert "2 of 3 dimensions have collapsed onto the prior (z0, z1: inactive, KL ≈ 0)" in partial.message()
    # with the variance of E_q[z|x], the one definition of an inactive dimension decides
    assert collapse_of([0.005, 0.02, 0.3], mu_var=[0.5, 0.003, 0.9]).collapsed == (1,)
    whole = collapse_of([0.004, 0.01])
    assert whole.whole and whole.message().startswith("Posterior collapse: the total KL is 0.014 nats")
    assert collapse_of([0.05, 0.04]).whole  # each above 0.01, but 0.09 nats in total: nothing
    assert not collapse_of([1.0, 2.0]).some


def test_cyclical_annealing_restarts_beta_each_cycle():
    c = vc.TrainConfig(epochs=8, beta=2.0, kl_cycles=4)  # cycles of 2 epochs: β climbs over the first one
    assert [c.beta_at(e / 2) for e in range(9)] == [0.0, 1.0, 2.0, 2.0, 0.0, 1.0, 2.0, 2.0, 0.0]
    with pytest.raises(vc.ConfigError, match="KL warm-up or cyclical annealing, not both"):
        vc.TrainConfig(epochs=8, warmup_epochs=2, kl_cycles=4).check_schedule()
    with pytest.raises(vc.ConfigError, match="5 annealing cycles don't fit in 4 epochs"):
        vc.TrainConfig(epochs=4, kl_cycles=5).check_schedule()


def test_free_bits_leave_dimensions_under_lambda_without_a_kl_gradient():
    model = vc.build_model(vc.ModelConfig(image_shape=(1, 8, 8), latent_dim=3, hidden=32),
                           torch.Generator().manual_seed(0))
    x = vc.load_dataset("digits").train_images[:64]
    batch = {"images": x, "labels": torch.zeros(64, dtype=torch.long), "labelled": torch.ones(64, dtype=torch.bool)}

    def step(beta: float, **training):
        """The loss, and its gradient on the layer that makes log σ², for one batch (same z draws)."""
        model.zero_grad()
        ctx = StepContext(train=vc.TrainConfig(beta=beta, **training), beta=beta,
                          generator=torch.Generator().manual_seed(1), n_train=64)
        out = model.loss_terms(batch, ctx)
        out.loss.backward()
        return out, model.to_logvar.weight.grad.clone()

    free, grad_free = step(4.0, free_bits=10.0)  # every dimension's KL is far below 10 nats at initialisation
    assert free.loss.item() == pytest.approx(free.terms["recon"].item() + 4.0 * 3 * 10.0, rel=1e-5)
    _, grad_recon = step(0.0)
    assert torch.allclose(grad_free, grad_recon, atol=1e-6)  # only the reconstruction pulls on σ
    _, grad_kl = step(4.0)
    assert not torch.allclose(grad_kl, grad_recon, atol=1e-3)  # without free bits the KL does


def test_each_remedy_is_a_valid_run_and_changes_only_its_setting():
    model, training = {"arch": "mlp", "hidden": 400, "latent_dim": 10}, {"beta": 8.0, "epochs": 10}
    assert remedies_for("gaussian", training) == ["warmup", "cyclical", "lower_beta", "free_bits", "smaller_decoder"]
    assert remedies_for("vq", {}) == [] and "free_bits" not in remedies_for("m2", training)
    assert "smaller_decoder" not in remedies_for("gaussian", training, "broadcast")  # its width is fixed
    expected = {"warmup": ({}, {"warmup_epochs": 5, "kl_cycles": 0}), "cyclical": ({}, {"kl_cycles": 4}),
                "free_bits": ({}, {"free_bits": 0.5}), "lower_beta": ({}, {"beta": 2.0}),
                "smaller_decoder": ({"decoder_hidden": 100}, {})}
    assert set(expected) == set(REMEDIES)
    for name, (model_change, training_change) in expected.items():
        m, t = apply_remedy(name, model, training)
        assert {k: v for k, v in m.items() if model.get(k) != v} == model_change, name
        assert {k: v for k, v in t.items() if training.get(k, 0) != v} == {
            k: v for k, v in training_change.items() if training.get(k, 0) != v}, name
        vc.TrainConfig(**t).check_schedule()
        vc.ModelConfig(image_shape=(1, 8, 8), **m)


def test_beta_8_collapses_digits_and_free_bits_reopens_the_code():
    base_model, base_training = {"arch": "mlp", "hidden": 400, "latent_dim": 10}, {"beta": 8.0, "epochs": 10}
    collapsed = vc.run_training(vc.RunSpec(dataset="digits", model=base_model, training=base_training), None)
    assert collapse_of(collapsed.record.metrics["test_kl_per_dim"]).whole
    m, t = apply_remedy("free_bits", base_model, base_training)
    fixed = vc.run_training(vc.RunSpec(dataset="digits", model=m, training=t), None)
    after = collapse_of(fixed.record.metrics["test_kl_per_dim"])
    assert not after.whole and after.total_kl > 1.0
    assert fixed.record.metrics["test_recon"] < collapsed.record.metrics["test_recon"]
