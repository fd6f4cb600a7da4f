"""All four disentanglement metrics for one model and one factor oracle, with the sample sizes of a
protocol, the time each took, and progress reported through a callback.

disentanglement_lib's `config/unsupervised_study_v1/metric_configs/*.gin` set the reference sizes
(`DISENTANGLEMENT_LIB`): MIG on 10,000 points with 20 bins; DCI and SAP trained on 10,000 and
tested on 5,000; FactorVAE with batches of 64, 10,000 training and 5,000 evaluation votes, global
variances from 10,000 points and dimensions of std < 0.05 pruned. The default protocol keeps all
of that but the number of FactorVAE votes and the DCI estimator, so that it runs in under a
minute on two cores (see benchmarks/bench_metrics.py for both protocols side by side).
The representation is the posterior mean (`model.embed`), as disentanglement_lib's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch

from ..models.base import LatentModel
from . import scores
from .oracle import FactorOracle
from .scores import MetricError

ENCODE_BATCH = 1024


@dataclass(frozen=True)
class Protocol:
    num_train: int = 10_000  # MIG, DCI and SAP training points; FactorVAE's global variances
    num_test: int = 5_000  # DCI and SAP test points
    num_bins: int = scores.MIG_BINS
    factor_vae_batch: int = 64
    factor_vae_train_votes: int = 500
    factor_vae_eval_votes: int = 500
    dci_estimator: str = "fast"
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_PROTOCOL = Protocol()
DISENTANGLEMENT_LIB = replace(DEFAULT_PROTOCOL, factor_vae_train_votes=10_000, factor_vae_eval_votes=5_000,
                              dci_estimator="gbt")


@torch.no_grad()
def represent(model: LatentModel, images: torch.Tensor, batch: int = ENCODE_BATCH) -> np.ndarray:
    """Posterior means (N, D) as float64."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = [model.embed(images[i : i + batch].to(device)).float().cpu() for i in range(0, len(images), batch)]
    model.train(was_training)
    return torch.cat(out).double().numpy()


@dataclass(frozen=True)
class Report:
    mig: scores.MIG
    dci: scores.DCI
    sap: scores.SAP
    factor_vae: scores.FactorVAEScore
    factor_names: tuple[str, ...]
    seconds: dict[str, float]
    protocol: Protocol

    def summary(self) -> dict[str, Any]:
        """Plain numbers for JSON: the headline scores, per-factor MIG, the MI matrix, timings."""
        return {
            "mig": self.mig.score,
            "mig_per_factor": dict(zip(self.factor_names, self.mig.per_factor.tolist())),
            "mutual_info": self.mig.mutual_info.tolist(),
            "factor_entropy": self.mig.entropy.tolist(),
            "dci_disentanglement": self.dci.disentanglement,
            "dci_completeness": self.dci.completeness,
            "dci_informativeness": self.dci.informativeness_test,
            "dci_importance": self.dci.importance.tolist(),
            "sap": self.sap.score,
            "factor_vae": self.factor_vae.eval_accuracy,
            "factor_vae_train": self.factor_vae.train_accuracy,
            "factor_vae_active_dims": self.factor_vae.num_active_dims,
            "factor_names": list(self.factor_names),
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
            "protocol": self.protocol.to_dict(),
        }


Progress = Callable[[str, float], None]  # (what, fraction done)


def _votes(model, oracle: FactorOracle, n: int, p: Protocol, rng: np.random.Generator,
           global_variance: np.ndarray, active: np.ndarray, progress: Progress, label: str) -> np.ndarray:
    """(K, D) vote counts: each vote fixes one random factor over a batch and names the dimension."""
    k, d = len(oracle.factor_sizes), len(global_variance)
    votes = np.zeros((k, d), dtype=np.int64)
    per_chunk = max(1, ENCODE_BATCH // p.factor_vae_batch)  # votes whose images are encoded together
    done = 0
    while done < n:
        m = min(per_chunk, n - done)
        fixed = rng.integers(0, k, m)
        classes = []
        for factor in fixed:
            c = oracle.sample_factors(p.factor_vae_batch, rng)
            c[:, factor] = c[0, factor]
            classes.append(c)
        codes = represent(model, oracle.images(np.concatenate(classes))).reshape(m, p.factor_vae_batch, d)
        for factor, batch_codes in zip(fixed, codes):
            votes[factor, scores.factor_vae_vote(batch_codes, global_variance, active)] += 1
        done += m
        progress(label, done / n)
    return votes


def evaluate_disentanglement(
    model: LatentModel, oracle: FactorOracle, protocol: Protocol = DEFAULT_PROTOCOL,
    progress: Progress | None = None,
) -> Report:
    """MIG, DCI, SAP and the FactorVAE score of `model`'s posterior means, with `oracle` drawing images."""
    progress = progress or (lambda what, fraction: None)
    p = protocol
    rng = np.random.default_rng(p.seed)
    seconds: dict[str, float] = {}

    t = time.perf_counter()
    y_train = oracle.sample_factors(p.num_train, rng)
    y_test = oracle.sample_factors(p.num_test, rng)
    y_all, codes = np.concatenate([y_train, y_test]), []
    for i in range(0, len(y_all), ENCODE_BATCH):
        codes.append(represent(model, oracle.images(y_all[i : i + ENCODE_BATCH])))
        progress("encoding", min(i + ENCODE_BATCH, len(y_all)) / len(y_all))
    codes = np.concatenate(codes)
    z_train, z_test = codes[: p.num_train], codes[p.num_train :]
    seconds["encode"] = time.perf_counter() - t

    t = time.perf_counter()
    mig = scores.mig(z_train, y_train, p.num_bins)
    seconds["mig"] = time.perf_counter() - t
    progress("MIG", 1.0)

    t = time.perf_counter()
    sap = scores.sap(z_train, y_train, z_test, y_test)
    seconds["sap"] = time.perf_counter() - t
    progress("SAP", 1.0)

    t = time.perf_counter()
    dci = scores.dci(z_train, y_train, z_test, y_test, estimator=p.dci_estimator, random_state=p.seed)
    seconds["dci"] = time.perf_counter() - t
    progress("DCI", 1.0)

    t = time.perf_counter()
    global_variance = np.var(z_train, axis=0, ddof=1)
    active = scores.active_dims(global_variance)
    if active.any():
        train_votes = _votes(model, oracle, p.factor_vae_train_votes, p, rng, global_variance, active, progress,
                             "FactorVAE votes (train)")
        eval_votes = _votes(model, oracle, p.factor_vae_eval_votes, p, rng, global_variance, active, progress,
                            "FactorVAE votes (eval)")
    else:
        train_votes = eval_votes = np.zeros((len(oracle.factor_sizes), len(global_variance)), dtype=np.int64)
    factor_vae = scores.factor_vae_from_votes(train_votes, eval_votes, int(active.sum()))
    seconds["factor_vae"] = time.perf_counter() - t
    seconds["total"] = sum(seconds.values())
    return Report(mig, dci, sap, factor_vae, tuple(oracle.factor_names), seconds, p)


SUMMARY_SCORES = ("mig", "dci_disentanglement", "dci_completeness", "dci_informativeness", "sap", "factor_vae")


def check_summary(summary: object) -> dict[str, Any]:
    """A saved summary (a checkpoint's "disentanglement", maybe uploaded) with the types pages read:
    scores in [0, 1], a finite (D × K) mutual-information matrix, K factor names. MetricError otherwise."""
    if not isinstance(summary, dict):
        raise MetricError("the saved metrics are not an object")
    for key in SUMMARY_SCORES:
        v = summary.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
            raise MetricError(f"the saved metric {key!r} is not a number in [0, 1]")
    names = summary.get("factor_names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise MetricError("the saved metrics do not name their factors")
    try:
        mi = np.asarray(summary.get("mutual_info"), dtype=np.float64)
    except (TypeError, ValueError):
        raise MetricError("the saved mutual-information matrix is not numeric") from None
    if mi.ndim != 2 or mi.shape[1] != len(names) or not np.isfinite(mi).all():
        raise MetricError("the saved mutual-information matrix has the wrong shape")
    return summary
