"""Holes: where the prior N(0, I) puts mass that the encoded data never reach.

Draw points from the prior and measure each one's distance to the nearest encoded input. A draw is
in a hole when it is farther from every input than almost all inputs are from their own nearest
neighbour (the 95th percentile of those distances): the decoder was never trained near it. A VAE's
KL term pulls the aggregate posterior towards the prior and leaves few holes; an autoencoder's codes
go wherever suits its decoder, so prior draws land in holes, and most of its data lie where the prior
never samples (outside the ball that holds 99% of N(0, I)).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from scipy.stats import chi2

REFERENCE_POINTS = 2000  # encoded inputs whose nearest-neighbour distances set the threshold
HOLE_PERCENTILE = 95.0
PRIOR_MASS = 0.99  # the ball holding this much of N(0, I): data outside it are never sampled


@dataclass(frozen=True)
class Holes:
    draws: torch.Tensor  # (n, D) from N(0, I)
    distance: torch.Tensor  # (n,) to the nearest encoded input
    threshold: float  # the data's own nearest-neighbour distance at HOLE_PERCENTILE
    outside_prior: float  # fraction of the encoded inputs outside the prior's PRIOR_MASS ball
    prior_radius: float  # that ball's radius

    @property
    def in_hole(self) -> torch.Tensor:
        return self.distance > self.threshold

    @property
    def hole_fraction(self) -> float:
        return float(self.in_hole.float().mean())

    def farthest(self, k: int) -> torch.Tensor:
        """The k draws deepest in holes."""
        return self.draws[self.distance.argsort(descending=True)[:k]]

    def nearest(self, k: int) -> torch.Tensor:
        """The k draws best covered by the data."""
        return self.draws[self.distance.argsort()[:k]]


@torch.no_grad()
def prior_holes(encoded: torch.Tensor, n: int = 2000, seed: int = 0) -> Holes:
    """n prior draws scored against the encoded inputs (N, D)."""
    if encoded.ndim != 2 or len(encoded) < 3:
        raise ValueError("prior_holes needs at least three encoded inputs of shape (N, D)")
    gen = torch.Generator().manual_seed(seed)
    encoded = encoded.float()
    draws = torch.randn(n, encoded.shape[1], generator=gen)
    distance = torch.cdist(draws, encoded).min(dim=1).values
    ref = encoded[torch.randperm(len(encoded), generator=gen)[:REFERENCE_POINTS]]
    pairwise = torch.cdist(ref, ref)
    pairwise.fill_diagonal_(float("inf"))
    own = pairwise.min(dim=1).values
    threshold = float(torch.quantile(own, HOLE_PERCENTILE / 100))
    radius = float(chi2.ppf(PRIOR_MASS, encoded.shape[1]) ** 0.5)
    outside = float((encoded.norm(dim=1) > radius).float().mean())
    return Holes(draws, distance, threshold, outside, radius)
