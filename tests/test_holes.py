"""The plain autoencoder family, and holes: prior draws far from the data, data the prior never samples."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import vae_core as vc

CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"


def test_codes_shaped_like_the_prior_leave_few_holes_and_a_far_cluster_leaves_nothing_but_holes():
    gen = torch.Generator().manual_seed(0)
    like_prior = vc.prior_holes(torch.randn(5000, 2, generator=gen))
    assert like_prior.hole_fraction < 0.1
    assert like_prior.outside_prior == pytest.approx(0.01, abs=0.005)  # the 99% ball
    assert like_prior.prior_radius == pytest.approx(3.035, abs=1e-3)  # sqrt of chi²(2) at 0.99
    far = vc.prior_holes(5 + 0.1 * torch.randn(5000, 2, generator=gen))
    assert far.hole_fraction == 1.0 and far.outside_prior == 1.0
    assert (far.farthest(3)[:, 0] <= far.nearest(3)[:, 0].max()).all()  # deepest holes: farthest from (5, 5)


def test_an_autoencoder_trains_on_reconstruction_alone_and_has_no_posterior():
    out = vc.run_training(vc.RunSpec(dataset="digits", model={"family": "ae", "latent_dim": 2, "hidden": 64},
                                     training={"epochs": 3}), None)
    model, metrics = out.model, out.record.metrics
    assert metrics["test_loss"] == metrics["test_recon"] and "test_kl" not in metrics
    assert model.latent_space.kind == "deterministic"
    x = vc.load_dataset("digits").test_images[:5]
    assert vc.embed(model, x).shape == (5, 2) and vc.reconstruct(model, x).shape == x.shape
    with pytest.raises(vc.LatentError, match="an autoencoder's encoder gives one code per image, with no σ"):
        vc.encode(model, x)
    with pytest.raises(vc.ConfigError, match="beta applies to the gaussian and m2 families, not to ae"):
        vc.TrainConfig(family="ae", beta=4.0)


def test_the_shipped_autoencoder_leaves_its_data_where_the_prior_never_samples():
    data = vc.load_dataset("digits")
    vae = vc.load_checkpoint(CHECKPOINTS / "digits-2d").model
    ae = vc.load_checkpoint(CHECKPOINTS / "digits-ae-2d").model
    vae_holes = vc.prior_holes(vc.embed(vae, data.train_images))
    ae_holes = vc.prior_holes(vc.embed(ae, data.train_images))
    assert vae_holes.outside_prior < 0.02 and ae_holes.outside_prior > 0.5
