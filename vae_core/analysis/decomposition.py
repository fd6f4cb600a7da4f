"""The average KL split into three parts (Hoffman & Johnson, 2016; Chen et al., 2018, eq. 2):

    E_x KL(q(z|x) ‖ p(z)) = I_q(x; z)                      index-code mutual information
                          + KL(q(z) ‖ ∏_j q(z_j))            total correlation
                          + Σ_j KL(q(z_j) ‖ p(z_j))          dimension-wise KL

with q(z) = (1/N) Σ_n q(z|x_n), the aggregate posterior of the N encoded inputs, evaluated exactly
(every z against all N posteriors, not a minibatch estimate). The expectations are Monte-Carlo over
draws z ~ q(z|x_n), so the three parts sum to the closed-form average KL within sampling error.
I_q ≤ log N; a collapsed code has all three at 0; a code whose dimensions move together has a large TC.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from ..models.losses import gaussian_kl
from ..models.objectives import gaussian_log_density

ROWS_PER_CHUNK = 256  # z samples scored against all N posteriors at once: memory ~ chunk × N × D floats
SPLIT_INPUTS = 1000  # inputs whose posteriors make q(z) for the split: O(N²·D) work


def evenly_spaced(n: int, k: int = SPLIT_INPUTS, device: torch.device | str | None = None) -> torch.Tensor:
    """k indices spread over 0..n−1 (all of them when n ≤ k): a fair subset even of a dataset stored
    sorted by its factors, as the sprites are."""
    return torch.linspace(0, n - 1, min(n, k), device=device).long()


@dataclass(frozen=True)
class KLDecomposition:
    kl: float  # closed-form average KL(q(z|x) ‖ N(0, I))
    mutual_info: float
    total_correlation: float
    dimension_kl: float
    n: int  # encoded inputs making q(z)

    @property
    def estimate(self) -> float:
        """The Monte-Carlo sum of the three parts (≈ kl)."""
        return self.mutual_info + self.total_correlation + self.dimension_kl

    def to_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def kl_decomposition(mu: torch.Tensor, logvar: torch.Tensor, samples: int = 1, seed: int = 0) -> KLDecomposition:
    """The three parts from posterior parameters (N, D) of N inputs, `samples` draws of z per input."""
    mu, logvar = mu.double(), logvar.double()
    n, d = mu.shape
    if n < 2:
        raise ValueError("the decomposition needs at least two encoded inputs")
    gen = torch.Generator().manual_seed(seed)
    std = torch.exp(0.5 * logvar)
    log_n = math.log(n)
    sums = torch.zeros(3, dtype=torch.float64)  # the summands of MI, TC and dimension-wise KL
    for _ in range(samples):
        z = mu + std * torch.randn(mu.shape, generator=gen, dtype=torch.float64)
        for start in range(0, n, ROWS_PER_CHUNK):
            zc = z[start : start + ROWS_PER_CHUNK]
            pairs = gaussian_log_density(zc.unsqueeze(1), mu.unsqueeze(0), logvar.unsqueeze(0))  # (c, N, D)
            log_qz = torch.logsumexp(pairs.sum(2), dim=1) - log_n  # (c,)
            log_qzj = (torch.logsumexp(pairs, dim=1) - log_n).sum(1)  # (c,) Σ_j log q(z_j)
            log_qz_x = gaussian_log_density(zc, mu[start : start + ROWS_PER_CHUNK],
                                            logvar[start : start + ROWS_PER_CHUNK]).sum(1)
            log_pz = gaussian_log_density(zc, torch.zeros_like(zc), torch.zeros_like(zc)).sum(1)
            sums += torch.stack([(log_qz_x - log_qz).sum(), (log_qz - log_qzj).sum(), (log_qzj - log_pz).sum()])
    mi, tc, dwkl = (sums / (n * samples)).tolist()
    kl = float(gaussian_kl(mu, logvar).sum(1).mean())
    return KLDecomposition(kl=kl, mutual_info=mi, total_correlation=tc, dimension_kl=dwkl, n=n)
