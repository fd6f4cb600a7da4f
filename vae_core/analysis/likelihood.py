"""What one input costs, in nats: its reconstruction term, KL per dimension, −ELBO, and the tighter
importance-weighted bound on log p(x) (Burda et al., 2016).

    ELBO(x)   = E_q[log p(x|z)] − KL(q(z|x) ‖ N(0, I))
    IWAE_k(x) = E[log (1/k) Σ_i p(x|z_i) p(z_i) / q(z_i|x)],  z_i ~ q(z|x)

IWAE_1 is the ELBO in expectation, IWAE_k ≤ IWAE_2k ≤ log p(x), and IWAE_k → log p(x) as k grows.
Gaussian VAEs only: a VQ-VAE has no density over its codes to weight by, and M2's bound sums over y.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..models.base import LatentModel
from ..models.losses import bernoulli_nll, gaussian_kl
from ..models.objectives import gaussian_log_density
from .latent import LatentError

IWAE_SAMPLES = 64  # the k of the importance-weighted bound the pages show
DECODES_PER_CHUNK = 4096  # bounds memory: images × samples decoded at once


def _gaussian(model: LatentModel, what: str) -> None:
    if model.family != "gaussian":
        raise LatentError(f"{what} needs a Gaussian VAE (q(z|x) = N(μ, σ²)); this model is a {model.family} model")


@dataclass(frozen=True)
class InputTerms:
    """Per input (B,) or (B, D); every value in nats."""

    mu: torch.Tensor  # (B, D)
    sigma: torch.Tensor  # (B, D)
    recon: torch.Tensor  # −E_q[log p(x|z)], averaged over the z samples drawn
    kl_per_dim: torch.Tensor  # (B, D), closed form
    kl: torch.Tensor

    @property
    def neg_elbo(self) -> torch.Tensor:
        return self.recon + self.kl


@torch.no_grad()
def input_terms(model: LatentModel, images: torch.Tensor, samples: int = 1, seed: int = 0) -> InputTerms:
    """μ, σ, the reconstruction term (mean over `samples` draws of z), KL per dimension and −ELBO."""
    _gaussian(model, "the terms of the ELBO")
    if samples < 1:
        raise LatentError(f"samples must be at least 1, got {samples}")
    mu, logvar = model.encode(images)
    gen = torch.Generator().manual_seed(seed)
    recon = torch.zeros(len(images))
    for _ in range(samples):
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=gen)
        recon += bernoulli_nll(model.decode(z), images)
    per_dim = gaussian_kl(mu, logvar)
    return InputTerms(mu, torch.exp(0.5 * logvar), recon / samples, per_dim, per_dim.sum(1))


@torch.no_grad()
def log_weights(model: LatentModel, images: torch.Tensor, k: int, seed: int = 0) -> torch.Tensor:
    """log p(x|z_i) + log p(z_i) − log q(z_i|x) for k draws z_i ~ q(z|x) per image: (B, k)."""
    _gaussian(model, "the importance-weighted bound")
    if k < 1:
        raise LatentError(f"k must be at least 1, got {k}")
    gen = torch.Generator().manual_seed(seed)
    out = []
    per_chunk = max(1, DECODES_PER_CHUNK // k)
    for start in range(0, len(images), per_chunk):
        x = images[start : start + per_chunk]
        mu, logvar = model.encode(x)
        eps = torch.randn((len(x), k, mu.shape[1]), generator=gen)
        z = mu.unsqueeze(1) + torch.exp(0.5 * logvar).unsqueeze(1) * eps  # (b, k, D)
        flat = z.reshape(-1, mu.shape[1])
        x_rep = x.unsqueeze(1).expand(-1, k, *x.shape[1:]).reshape(-1, *x.shape[1:])
        log_px_z = -bernoulli_nll(model.decode(flat), x_rep).view(len(x), k)
        log_pz = gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z)).sum(2)
        log_qz_x = gaussian_log_density(z, mu.unsqueeze(1), logvar.unsqueeze(1)).sum(2)
        out.append(log_px_z + log_pz - log_qz_x)
    return torch.cat(out)


def iwae_bound(model: LatentModel, images: torch.Tensor, k: int = IWAE_SAMPLES, seed: int = 0) -> torch.Tensor:
    """The importance-weighted lower bound on log p(x) with k samples, per image (B,), in nats."""
    w = log_weights(model, images, k, seed)
    return torch.logsumexp(w, dim=1) - math.log(k)
