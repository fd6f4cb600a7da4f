"""Anomaly scores (higher = more unusual) and how well they tell a second dataset from the first.

A VAE scores an input by how poorly it explains it: the reconstruction error, −ELBO, or −log p(x)
estimated by the importance-weighted bound. Telling out-of-distribution data apart is then a ranking
problem, measured by the area under the ROC curve (1: every OOD input scores higher; 0.5: chance;
below 0.5: the OOD data look *more* likely, as Fashion-MNIST models find MNIST; Nalisnick et al., 2019).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn import metrics

from ..models.base import LatentModel
from .latent import LatentError, reconstruction_error
from .likelihood import IWAE_SAMPLES, input_terms, iwae_bound

ANOMALY_SCORES = {
    "reconstruction": "reconstruction error: −log p(x | the posterior mean), nats",
    "neg_elbo": "−ELBO: reconstruction + KL, nats",
    "iwae": f"−log p(x) by the importance-weighted bound (k = {IWAE_SAMPLES}), nats",
}
SCORE_BATCH = 256


def scores_for(model: LatentModel) -> list[str]:
    """The scores a model has: −ELBO and the bound need a Gaussian q(z|x)."""
    return list(ANOMALY_SCORES) if model.family == "gaussian" else ["reconstruction"]


@torch.no_grad()
def anomaly_scores(model: LatentModel, images: torch.Tensor, score: str = "neg_elbo", seed: int = 0) -> torch.Tensor:
    """One score per image (N,), in nats: the higher, the worse the model explains it."""
    if score not in ANOMALY_SCORES:
        raise LatentError(f"score must be one of {', '.join(ANOMALY_SCORES)}, got {score!r}")
    if score not in scores_for(model):
        raise LatentError(f"the {score} score needs a Gaussian VAE; a {model.family} model has: "
                          f"{', '.join(scores_for(model))}")
    if score == "reconstruction":
        return reconstruction_error(model, images)
    out = []
    for i, start in enumerate(range(0, len(images), SCORE_BATCH)):
        x = images[start : start + SCORE_BATCH]
        out.append(input_terms(model, x, seed=seed + i).neg_elbo if score == "neg_elbo"
                   else -iwae_bound(model, x, seed=seed + i))
    return torch.cat(out)


@dataclass(frozen=True)
class ROC:
    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    auc: float


def ood_roc(in_scores, out_scores) -> ROC:
    """ROC of telling `out_scores` (positives) from `in_scores` by thresholding the score."""
    a, b = np.asarray(in_scores, dtype=np.float64), np.asarray(out_scores, dtype=np.float64)
    if len(a) == 0 or len(b) == 0:
        raise LatentError("the ROC needs scores of both in-distribution and out-of-distribution inputs")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise LatentError("the scores must be finite")
    y = np.concatenate([np.zeros(len(a)), np.ones(len(b))])
    s = np.concatenate([a, b])
    fpr, tpr, thresholds = metrics.roc_curve(y, s)
    return ROC(fpr, tpr, thresholds, float(metrics.roc_auc_score(y, s)))
