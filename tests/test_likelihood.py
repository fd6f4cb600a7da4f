"""Per-input ELBO terms, the importance-weighted bound against log p(x) by quadrature, and the
three-part split of the average KL against closed forms."""

from __future__ import annotations

import math

import pytest
import torch

import vae_core as vc
from vae_core.analysis.decomposition import kl_decomposition
from vae_core.analysis.likelihood import input_terms, iwae_bound
from vae_core.models.losses import bernoulli_nll


@pytest.fixture(scope="module")
def one_d_model():
    """A digits VAE with a 1-D latent (log p(x) is then a 1-D integral), trained briefly; its q(z|x) is
    then made e times wider than learned, so that the ELBO is loose by several nats."""
    data = vc.load_dataset("digits")
    model = vc.build_model(vc.ModelConfig(image_shape=(1, 8, 8), arch="mlp", hidden=64, latent_dim=1),
                           torch.Generator().manual_seed(0))
    vc.fit(model, data.train_images, vc.TrainConfig(epochs=3, batch_size=64, lr=3e-3, seed=0))
    with torch.no_grad():
        model.to_logvar.bias += 2.0
    return model, data.test_images[:100]


@torch.no_grad()
def exact_log_px(model, images: torch.Tensor) -> torch.Tensor:
    """log ∫ p(x|z) N(z; 0, 1) dz on a fine grid of z (the integrand is negligible beyond ±12)."""
    z = torch.linspace(-12, 12, 4801).unsqueeze(1)
    dz = float(z[1] - z[0])
    logits = model.decode(z)  # (G, 1, 8, 8)
    log_pz = -0.5 * (z.squeeze(1) ** 2 + math.log(2 * math.pi))
    out = []
    for x in images:
        log_px_z = -bernoulli_nll(logits, x.expand_as(logits))
        out.append(torch.logsumexp(log_px_z + log_pz, 0) + math.log(dz))
    return torch.stack(out)


def test_the_importance_weighted_bound_tightens_towards_log_px(one_d_model):
    model, x = one_d_model
    exact = exact_log_px(model, x).mean().item()
    elbo = -input_terms(model, x, samples=400).neg_elbo.mean().item()
    bounds = {k: iwae_bound(model, x, k=k, seed=1).mean().item() for k in (1, 8, 64, 1024)}
    assert exact - elbo > 2  # the loose bound this test is about
    assert bounds[1] == pytest.approx(elbo, abs=0.5)  # IWAE_1 is a one-sample ELBO
    assert bounds[1] < bounds[8] < bounds[64]
    assert exact - bounds[8] < 0.1 * (exact - elbo)  # most of the gap closes with a few samples
    assert bounds[1024] <= exact + 0.02  # a lower bound (up to Monte-Carlo error)...
    assert bounds[1024] == pytest.approx(exact, abs=0.05)  # ...that reaches log p(x)


def test_input_terms_add_up_and_match_the_closed_form_kl(one_d_model):
    model, x = one_d_model
    t = input_terms(model, x, samples=3)
    mu, logvar = model.encode(x)
    assert torch.allclose(t.mu, mu) and torch.allclose(t.sigma, torch.exp(0.5 * logvar))
    expected_kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)
    assert torch.allclose(t.kl, expected_kl, atol=1e-5)
    assert torch.allclose(t.neg_elbo, t.recon + t.kl)


def test_terms_and_bound_are_refused_for_a_vq_model():
    model = vc.build_model(vc.ModelConfig(image_shape=(1, 28, 28), family="vq", latent_dim=8, hidden=16),
                           torch.Generator().manual_seed(0))
    with pytest.raises(vc.LatentError, match="needs a Gaussian VAE.*vq model"):
        iwae_bound(model, torch.rand(2, 1, 28, 28), k=4)


# --- the KL split ------------------------------------------------------------------------------


def test_a_collapsed_code_has_no_information_and_no_correlation():
    n, d, s = 200, 3, 0.7
    mu, logvar = torch.zeros(n, d), torch.full((n, d), math.log(s**2))
    parts = kl_decomposition(mu, logvar, samples=50)
    assert parts.kl == pytest.approx(d * 0.5 * (s**2 - 1 - math.log(s**2)))
    assert parts.mutual_info == pytest.approx(0, abs=1e-9)
    assert parts.total_correlation == pytest.approx(0, abs=1e-9)
    assert parts.dimension_kl == pytest.approx(parts.kl, rel=0.05)


def test_the_three_parts_sum_to_the_average_kl():
    gen = torch.Generator().manual_seed(0)
    mu = torch.randn(300, 4, generator=gen) * torch.tensor([2.0, 1.0, 0.5, 0.0])
    logvar = torch.randn(300, 4, generator=gen) * 0.3 - 1.5
    parts = kl_decomposition(mu, logvar, samples=40)
    assert parts.estimate == pytest.approx(parts.kl, rel=0.02)
    assert 0 < parts.mutual_info <= math.log(300)
    assert parts.dimension_kl > 0


def test_one_dimension_has_no_total_correlation_and_moving_together_has_much():
    gen = torch.Generator().manual_seed(1)
    a, b = torch.randn(400, 1, generator=gen), torch.randn(400, 1, generator=gen)
    logvar = torch.full((400, 2), math.log(0.1**2))
    assert kl_decomposition(a, logvar[:, :1], samples=5).total_correlation == pytest.approx(0, abs=1e-9)
    independent = kl_decomposition(torch.cat([a, b], 1), logvar, samples=5).total_correlation
    together = kl_decomposition(torch.cat([a, a], 1), logvar, samples=5).total_correlation
    assert together > independent + 1.0  # a copy carries a whole dimension of shared information
