import math

import pytest
import torch

import vae_core as vc


def test_elbo_terms_match_a_hand_computation_on_two_pixels():
    # One example, two pixels: x = (1, 0), decoder probabilities p = sigmoid(logits) = (0.5, 0.75).
    x = torch.tensor([[1.0, 0.0]])
    logits = torch.tensor([[0.0, math.log(3.0)]])
    mu = torch.tensor([[0.5, -1.0]])
    logvar = torch.tensor([[0.0, math.log(0.25)]])
    terms = vc.elbo_terms(logits, x, mu, logvar, beta=2.0)

    recon = -math.log(0.5) - math.log(1 - 0.75)  # -[x log p + (1 - x) log(1 - p)] summed
    kl0 = 0.5 * (0.5**2 + 1.0 - 1.0 - 0.0)
    kl1 = 0.5 * (1.0 + 0.25 - 1.0 - math.log(0.25))
    assert terms.recon.item() == pytest.approx(recon, abs=1e-6)
    assert terms.kl_per_dim.tolist() == pytest.approx([kl0, kl1], abs=1e-6)
    assert terms.kl.item() == pytest.approx(kl0 + kl1, abs=1e-6)
    assert terms.loss.item() == pytest.approx(recon + 2.0 * (kl0 + kl1), abs=1e-5)
    assert terms.neg_elbo.item() == pytest.approx(recon + kl0 + kl1, abs=1e-5)


def test_terms_are_averaged_over_the_batch_and_summed_over_pixels():
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    logits = torch.zeros(2, 2)
    zeros = torch.zeros(2, 1)
    terms = vc.elbo_terms(logits, x, zeros, zeros)
    assert terms.recon.item() == pytest.approx(2 * math.log(2), abs=1e-6)  # per example, not per pixel
    assert terms.kl.item() == pytest.approx(0.0, abs=1e-7)  # q = prior


def test_kl_per_dimension_sums_to_the_kl():
    g = torch.Generator().manual_seed(1)
    mu, logvar = torch.randn(32, 6, generator=g), torch.randn(32, 6, generator=g)
    x = torch.rand(32, 1, 4, 4, generator=g)
    terms = vc.elbo_terms(torch.randn(32, 1, 4, 4, generator=g), x, mu, logvar)
    assert terms.kl_per_dim.shape == (6,)
    assert terms.kl_per_dim.sum().item() == pytest.approx(terms.kl.item(), rel=1e-6)
    assert (terms.kl_per_dim >= 0).all()
