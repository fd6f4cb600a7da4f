"""Disentanglement scores as pure functions of arrays: codes (N, D) and integer factors (N, K).

Each follows google-research/disentanglement_lib, `disentanglement_lib/evaluation/metrics/`:
`mig.py` + `utils.py` (20-bin histogram discretiser, `mutual_info_score`), `dci.py` (gradient-boosted
importances, entropy-based D and C), `factor_vae.py` (majority vote on the argmin of normalised
variance), `sap_score.py` (per-latent linear SVM accuracy, gap of the top two). Their arrays are
(dims, points); ours are (points, dims), as scikit-learn's. Randomness is always an argument.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from sklearn import ensemble, svm
from sklearn.metrics import mutual_info_score

MIG_BINS = 20
DCI_ESTIMATORS = ("gbt", "fast")


class MetricError(ValueError):
    """The arrays cannot be scored; the message says why."""


def _check(codes: np.ndarray, factors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    codes, factors = np.asarray(codes, dtype=np.float64), np.asarray(factors)
    if codes.ndim != 2 or factors.ndim != 2 or len(codes) != len(factors):
        raise MetricError(f"codes (N, D) and factors (N, K) must share N, got {codes.shape} and {factors.shape}")
    if len(codes) < 2:
        raise MetricError("at least 2 points are needed")
    if not np.isfinite(codes).all():
        raise MetricError("the codes hold non-finite numbers")
    return codes, factors.astype(np.int64)


def histogram_discretize(codes: np.ndarray, num_bins: int = MIG_BINS) -> np.ndarray:
    """Each column into `num_bins` equal-width bins over its own range, as `utils._histogram_discretize`."""
    out = np.zeros(codes.shape, dtype=np.int64)
    for d in range(codes.shape[1]):
        edges = np.histogram(codes[:, d], num_bins)[1][:-1]
        out[:, d] = np.digitize(codes[:, d], edges)
    return out


def mutual_information(discrete_codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """I(code_d; factor_k) in nats: (D, K)."""
    return np.array([[mutual_info_score(factors[:, k], discrete_codes[:, d]) for k in range(factors.shape[1])]
                     for d in range(discrete_codes.shape[1])])


def entropies(factors: np.ndarray) -> np.ndarray:
    """H(factor_k) in nats: (K,)."""
    return np.array([mutual_info_score(factors[:, k], factors[:, k]) for k in range(factors.shape[1])])


def normalized_information(codes: np.ndarray, factors: np.ndarray, num_bins: int = MIG_BINS) -> np.ndarray:
    """I(z_d; v_k) / H(v_k) on `num_bins`-bin histograms: (D, K), 1 = the dimension tells the factor entirely."""
    codes, factors = _check(codes, factors)
    m = mutual_information(histogram_discretize(codes, num_bins), factors)
    h = entropies(factors)
    return np.divide(m, h, out=np.zeros_like(m), where=h > 0)


@dataclass(frozen=True)
class MIG:
    score: float  # mean over factors of the normalised gap
    per_factor: np.ndarray  # (K,)
    mutual_info: np.ndarray  # (D, K) nats
    entropy: np.ndarray  # (K,) nats


def mig(codes: np.ndarray, factors: np.ndarray, num_bins: int = MIG_BINS) -> MIG:
    """Mutual information gap (Chen et al., 2018), disentanglement_lib's `_compute_mig`: for each factor,
    (largest − second largest I(z_d; v_k)) / H(v_k), averaged. A constant factor (H = 0) scores 0."""
    codes, factors = _check(codes, factors)
    m = mutual_information(histogram_discretize(codes, num_bins), factors)
    h = entropies(factors)
    top = np.sort(m, axis=0)[::-1]
    second = top[1] if len(top) > 1 else np.zeros(m.shape[1])
    per_factor = np.divide(top[0] - second, h, out=np.zeros_like(h), where=h > 0)
    return MIG(float(per_factor.mean()), per_factor, m, h)


@dataclass(frozen=True)
class DCI:
    disentanglement: float
    completeness: float
    informativeness_train: float  # mean accuracy of the per-factor classifiers
    informativeness_test: float
    importance: np.ndarray  # (D, K), columns are each factor's feature importances


def _importance_gbt(x_train, y_train, x_test, y_test, random_state: int):
    """dci.py's `compute_importance_gbt`: one scikit-learn GradientBoostingClassifier per factor."""
    d, k = x_train.shape[1], y_train.shape[1]
    importance = np.zeros((d, k))
    train_acc, test_acc = [], []
    for j in range(k):
        model = ensemble.GradientBoostingClassifier(random_state=random_state)
        model.fit(x_train, y_train[:, j])
        importance[:, j] = np.abs(model.feature_importances_)
        train_acc.append(np.mean(model.predict(x_train) == y_train[:, j]))
        test_acc.append(np.mean(model.predict(x_test) == y_test[:, j]))
    return importance, float(np.mean(train_acc)), float(np.mean(test_acc))


def _importance_fast(x_train, y_train, x_test, y_test, random_state: int):
    """Impurity importances from 30 bagged trees (each on half the points) that, like the boosted
    ones, consider every code dimension at each split (a random subset would credit noise
    dimensions): one tree per step instead of one per class and step, grown in parallel. Accuracy
    comes from the same trees.
    `benchmarks/bench_metrics.py` compares it with "gbt" on the shipped models."""
    d, k = x_train.shape[1], y_train.shape[1]
    importance = np.zeros((d, k))
    train_acc, test_acc = [], []
    for j in range(k):
        model = ensemble.RandomForestClassifier(n_estimators=30, max_depth=8, min_samples_leaf=5, max_features=None,
                                                max_samples=0.5, n_jobs=-1, random_state=random_state)
        model.fit(x_train, y_train[:, j])
        importance[:, j] = np.abs(model.feature_importances_)
        train_acc.append(np.mean(model.predict(x_train) == y_train[:, j]))
        test_acc.append(np.mean(model.predict(x_test) == y_test[:, j]))
    return importance, float(np.mean(train_acc)), float(np.mean(test_acc))


def dci_from_importance(importance: np.ndarray) -> tuple[float, float]:
    """Disentanglement and completeness (Eastwood & Williams, 2018) of an importance matrix (D, K)."""
    importance = np.asarray(importance, dtype=np.float64)
    d, k = importance.shape
    per_code = 1.0 - stats.entropy(importance.T + 1e-11, base=k) if k > 1 else np.ones(d)
    per_factor = 1.0 - stats.entropy(importance + 1e-11, base=d) if d > 1 else np.ones(k)
    weights = importance if importance.sum() > 0 else np.ones_like(importance)
    code_weight = weights.sum(axis=1) / weights.sum()
    factor_weight = weights.sum(axis=0) / weights.sum()
    return float(np.sum(per_code * code_weight)), float(np.sum(per_factor * factor_weight))


def dci(codes_train, factors_train, codes_test, factors_test, estimator: str = "gbt", random_state: int = 0) -> DCI:
    """DCI as in dci.py: importances of each code dimension for predicting each factor."""
    if estimator not in DCI_ESTIMATORS:
        raise MetricError(f"estimator must be one of {', '.join(DCI_ESTIMATORS)}, got {estimator!r}")
    x_train, y_train = _check(codes_train, factors_train)
    x_test, y_test = _check(codes_test, factors_test)
    fn = _importance_gbt if estimator == "gbt" else _importance_fast
    importance, acc_train, acc_test = fn(x_train, y_train, x_test, y_test, random_state)
    d_score, c_score = dci_from_importance(importance)
    return DCI(d_score, c_score, acc_train, acc_test, importance)


@dataclass(frozen=True)
class SAP:
    score: float
    matrix: np.ndarray  # (D, K) accuracy of a linear classifier from one code dimension


def sap(codes_train, factors_train, codes_test, factors_test) -> SAP:
    """SAP (Kumar et al., 2018) with discrete factors, as sap_score.py: the test accuracy of
    `LinearSVC(C=0.01, class_weight="balanced")` on each single dimension; mean gap of the top two."""
    x_train, y_train = _check(codes_train, factors_train)
    x_test, y_test = _check(codes_test, factors_test)
    d, k = x_train.shape[1], y_train.shape[1]
    matrix = np.zeros((d, k))
    for i in range(d):
        for j in range(k):
            if len(np.unique(y_train[:, j])) < 2:
                continue  # nothing to classify
            classifier = svm.LinearSVC(C=0.01, class_weight="balanced")
            classifier.fit(x_train[:, i : i + 1], y_train[:, j])
            matrix[i, j] = np.mean(classifier.predict(x_test[:, i : i + 1]) == y_test[:, j])
    top = np.sort(matrix, axis=0)
    gap = top[-1] - top[-2] if d > 1 else top[-1]
    return SAP(float(np.mean(gap)), matrix)


FACTOR_VAE_PRUNE = 0.05  # metric_configs/factor_vae_metric.gin: prune_dims.threshold


def active_dims(global_variance: np.ndarray, threshold: float = FACTOR_VAE_PRUNE) -> np.ndarray:
    """Dimensions whose standard deviation over the data reaches `threshold` (collapsed ones are pruned)."""
    return np.sqrt(np.asarray(global_variance)) >= threshold


def factor_vae_vote(codes: np.ndarray, global_variance: np.ndarray, active: np.ndarray) -> int:
    """One vote: the active dimension of least variance, normalised by its global variance, over a
    batch of codes that share one factor value (`_generate_training_sample`). Index into all D."""
    local = np.var(codes, axis=0, ddof=1)
    index = np.flatnonzero(active)
    return int(index[np.argmin(local[index] / global_variance[index])])


@dataclass(frozen=True)
class FactorVAEScore:
    train_accuracy: float
    eval_accuracy: float  # the score
    num_active_dims: int
    votes: np.ndarray  # (K, D) training votes


def factor_vae_from_votes(train_votes: np.ndarray, eval_votes: np.ndarray, num_active: int) -> FactorVAEScore:
    """The majority-vote classifier (dimension -> factor) and its accuracy, as `compute_factor_vae`."""
    train_votes, eval_votes = np.asarray(train_votes), np.asarray(eval_votes)
    if num_active == 0 or train_votes.sum() == 0:
        return FactorVAEScore(0.0, 0.0, num_active, train_votes)
    classifier = np.argmax(train_votes, axis=0)  # each dimension votes for its most frequent factor
    other = np.arange(train_votes.shape[1])
    train_acc = train_votes[classifier, other].sum() / train_votes.sum()
    eval_acc = eval_votes[classifier, other].sum() / max(eval_votes.sum(), 1)
    return FactorVAEScore(float(train_acc), float(eval_acc), num_active, train_votes)
