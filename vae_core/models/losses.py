"""Likelihood and KL terms shared by the families, and the Gaussian VAE's negative ELBO."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x|z) per example, summed over pixels, for Bernoulli logits: (B,)."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Closed-form KL(N(mu, sigma^2) || N(0, 1)) per example and dimension: (B, D)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL per dimension, averaged over the batch: (D,)."""
    return gaussian_kl(mu, logvar).mean(dim=0)


@dataclass(frozen=True)
class ELBOTerms:
    loss: torch.Tensor  # recon + beta * kl, the quantity minimised
    recon: torch.Tensor  # -E_q[log p(x|z)], one-sample estimate
    kl: torch.Tensor  # KL(q(z|x) || N(0, I)), summed over dimensions
    kl_per_dim: torch.Tensor  # (D,), sums to kl

    @property
    def neg_elbo(self) -> torch.Tensor:
        return self.recon + self.kl


def elbo_terms(
    logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, beta: float = 1.0
) -> ELBOTerms:
    """Bernoulli reconstruction (BCE summed over pixels) + beta * KL, both averaged over the batch.

    Kingma & Welling (2014), eq. 10; beta as in Higgins et al. (2017).
    """
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
    per_dim = kl_per_dim(mu, logvar)
    kl = per_dim.sum()
    return ELBOTerms(loss=recon + beta * kl, recon=recon, kl=kl, kl_per_dim=per_dim)
