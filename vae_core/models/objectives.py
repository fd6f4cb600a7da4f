"""Training objectives of the gaussian family beyond the β-VAE, each one pushing q(z) towards
independent dimensions in its own way.

- β-TCVAE (Chen et al., 2018): KL(q(z|x)‖p(z)) averaged over the data splits into index-code mutual
  information + total correlation (TC) + dimension-wise KL; only the TC gets the weight β. log q(z)
  and log ∏_d q(z_d) are estimated on the minibatch by minibatch-weighted sampling, as `elbo()` in
  rtqichen/beta-tcvae `vae_quant.py` (mss=False, include_mutinfo=True, λ = 0). With a posterior
  memory (`tc_memory` batches), log q(z) is estimated against the posteriors of the last batches too:
  once I(x; z) exceeds log B the minibatch estimate is dominated by each sample's own posterior, and the
  TC penalty turns into a penalty on every dimension's information (see `tc_decomposition`).
- FactorVAE (Kim & Mnih, 2018): the ELBO + γ·TC, TC estimated by a discriminator that tells samples
  of q(z) from samples of ∏_d q(z_d) (each dimension permuted across the batch); the discriminator
  trains beside the VAE. It permutes the same batch (the paper draws a second one) and is smaller
  (4 hidden layers of 512, not 6 of 1000) to suit CPUs.
- Capacity annealing (Burgess et al., 2018): reconstruction + γ·|KL − C| with C ramped from 0.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

DISCRIMINATOR_HIDDEN = 512
DISCRIMINATOR_LAYERS = 4


def gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, exp(logvar)) elementwise (broadcasting)."""
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu).pow(2) * torch.exp(-logvar))


def joint_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log q(z_i | x_j) summed over dimensions, (B, M), by matrix products: Σ_d (z − μ)² w =
    z² · w − 2 z · μw + μ² · w with w = exp(−logvar). In float64: the three terms nearly cancel when a
    posterior is narrow (w ~ 1e6), which float32 cannot resolve."""
    z, mu, logvar = z.double(), mu.double(), logvar.double()
    w = torch.exp(-logvar)
    quad = (z * z) @ w.T - 2 * z @ (mu * w).T + (mu * mu * w).sum(1)
    return (-0.5 * (z.shape[1] * math.log(2 * math.pi) + logvar.sum(1) + quad)).float()


def tc_decomposition(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, dataset_size: int,
                     memory: PosteriorMemory | None = None):
    """(index-code MI, total correlation, dimension-wise KL), each averaged over the batch, by
    minibatch-weighted sampling: q(z_i) ≈ 1/(N·M) Σ_j q(z_i|x_j) over the M batch members.

    With a `memory`, the joint q(z_i) sums over the batch and the remembered posteriors (held fixed:
    gradients flow through this batch's only). The marginals q(z_id) stay on the batch: one dimension
    carries a few nats, well under log B, so the batch suffices there."""
    b = z.shape[0]
    log_qz_given_x = gaussian_log_density(z, mu, logvar).sum(1)  # (B,)
    log_pz = gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z)).sum(1)  # (B,)
    pairs = gaussian_log_density(z.unsqueeze(1), mu.unsqueeze(0), logvar.unsqueeze(0))  # (B, B, D): z_i under q(.|x_j)
    norm = math.log(b * max(dataset_size, b))
    remembered = memory.references() if memory is not None else None
    if remembered is None or len(remembered[0]) == 0:
        log_qz = torch.logsumexp(pairs.sum(2), dim=1) - norm  # (B,)
    else:
        refs_mu, refs_logvar = torch.cat([mu, remembered[0]]), torch.cat([logvar, remembered[1]])
        m = len(refs_mu)
        log_qz = torch.logsumexp(joint_log_density(z, refs_mu, refs_logvar), dim=1) - math.log(m * max(dataset_size, m))
    log_prod_qz = (torch.logsumexp(pairs, dim=1) - norm).sum(1)  # (B,)
    mi = (log_qz_given_x - log_qz).mean()
    tc = (log_qz - log_prod_qz).mean()
    dwkl = (log_prod_qz - log_pz).mean()
    return mi, tc, dwkl


class PosteriorMemory(nn.Module):
    """The posteriors (μ, log σ²) of the last training batches, a ring of rows, for β-TCVAE's estimate of
    log q(z). Buffers, not parameters: kept in the trainer state, so a continued run is exact."""

    def __init__(self, rows: int, latent_dim: int):
        super().__init__()
        self.register_buffer("mu", torch.zeros(rows, latent_dim))
        self.register_buffer("logvar", torch.zeros(rows, latent_dim))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))
        self.register_buffer("next_row", torch.zeros((), dtype=torch.long))

    def references(self) -> tuple[torch.Tensor, torch.Tensor]:
        n = int(self.filled)
        return self.mu[:n], self.logvar[:n]

    @torch.no_grad()
    def push(self, mu: torch.Tensor, logvar: torch.Tensor) -> None:
        rows, start = self.mu.shape[0], int(self.next_row)  # one read of each counter (a sync on a GPU)
        b = min(len(mu), rows)
        index = (start + torch.arange(b, device=self.mu.device)) % rows
        self.mu[index] = mu[-b:].to(self.mu.dtype)
        self.logvar[index] = logvar[-b:].to(self.logvar.dtype)
        self.next_row.fill_((start + b) % rows)
        self.filled.fill_(min(rows, int(self.filled) + b))


class Discriminator(nn.Module):
    """z (B, D) -> two logits: [sampled from q(z), sampled from the product of its marginals]."""

    optimizer_options = {"betas": (0.5, 0.9)}  # Kim & Mnih's Adam settings for the discriminator

    def __init__(self, latent_dim: int, hidden: int = DISCRIMINATOR_HIDDEN, layers: int = DISCRIMINATOR_LAYERS):
        super().__init__()
        dims = [latent_dim, *([hidden] * layers)]
        body: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            body += [nn.Linear(a, b), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*body, nn.Linear(dims[-1], 2))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def permute_dims(z: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each dimension shuffled across the batch on its own: a sample of ∏_d q(z_d)."""
    b, d = z.shape
    order = torch.argsort(torch.rand(b, d, generator=generator, device=z.device), dim=0)
    return torch.gather(z, 0, order)


def factor_vae_terms(z: torch.Tensor, discriminator: Discriminator, generator: torch.Generator):
    """(TC estimate for the VAE's loss, the discriminator's loss, its accuracy).

    The TC estimate log D(z)/(1 − D(z)) = logit difference flows back into the encoder only: the
    discriminator's weights are used detached there. Its own loss sees z detached.
    """
    params = {k: v.detach() for k, v in discriminator.named_parameters()}
    logits = torch.func.functional_call(discriminator, params, (z,))
    tc = (logits[:, 0] - logits[:, 1]).mean()
    z_fixed = z.detach()
    real, perm = discriminator(z_fixed), discriminator(permute_dims(z_fixed, generator))
    zeros = torch.zeros(len(z), dtype=torch.long, device=z.device)
    d_loss = 0.5 * (F.cross_entropy(real, zeros) + F.cross_entropy(perm, zeros + 1))
    with torch.no_grad():
        accuracy = 0.5 * ((real.argmax(1) == 0).float().mean() + (perm.argmax(1) == 1).float().mean())
    return tc, d_loss, accuracy
