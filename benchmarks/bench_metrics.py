"""Time of all four disentanglement metrics on the shipped sprites models, and how the default
protocol's faster parts agree with disentanglement_lib's (DCI importances from bagged trees against
gradient-boosted trees; 800 against 10,000 FactorVAE votes).

    python benchmarks/bench_metrics.py                   # every shipped sprites model, default protocol
    python benchmarks/bench_metrics.py --compare         # also DCI "gbt" and the full FactorVAE votes,
                                                         # and both DCI estimators on made-up codes
    python benchmarks/bench_metrics.py --quick           # one model, small sizes (a smoke run)

Prints one JSON object: per model, the scores and seconds of each protocol.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import _common
import numpy as np
import torch

import vae_core as vc
from vae_core.metrics import DEFAULT_PROTOCOL, SpriteOracle, dci, evaluate_disentanglement, represent

CHECKPOINTS = _common.ROOT / "checkpoints"
SCORES = ("mig", "dci_disentanglement", "dci_completeness", "dci_informativeness", "sap", "factor_vae")


def sprite_models() -> list[str]:
    return sorted(info.name for info in vc.list_checkpoints(CHECKPOINTS)
                  if (info.metadata.get("dataset") or {}).get("name") == "sprites")


def dci_agreement(model, protocol, seed: int = 0) -> dict:
    """DCI on the same codes with both estimators."""
    oracle, rng = SpriteOracle(), np.random.default_rng(seed)
    y_train = oracle.sample_factors(protocol.num_train, rng)
    y_test = oracle.sample_factors(protocol.num_test, rng)
    z_train, z_test = represent(model, oracle.images(y_train)), represent(model, oracle.images(y_test))
    out = {}
    for estimator in ("fast", "gbt"):
        t = time.perf_counter()
        r = dci(z_train, y_train, z_test, y_test, estimator=estimator, random_state=seed)
        out[estimator] = {"disentanglement": round(r.disentanglement, 4), "completeness": round(r.completeness, 4),
                          "informativeness": round(r.informativeness_test, 4),
                          "seconds": round(time.perf_counter() - t, 2)}
    return out


def mixed_codes(factors: np.ndarray, mix: float, rng: np.random.Generator) -> np.ndarray:
    """A code from the factors: each dimension (1 − mix)·its own factor + mix·the mean of the others,
    plus a little noise. mix = 0 is perfectly disentangled; mix = 0.8 mostly entangled."""
    f = (factors - factors.mean(0)) / factors.std(0)
    k = f.shape[1]
    weights = (1 - mix) * np.eye(k) + mix * (np.ones((k, k)) - np.eye(k)) / (k - 1)
    return f @ weights + 0.05 * rng.standard_normal(f.shape)


def dci_agreement_on_codes(protocol, mixes=(0.0, 0.2, 0.4, 0.6, 0.8), seed: int = 0) -> dict:
    """Both DCI estimators over codes from disentangled to entangled: do they rank them alike?"""
    oracle, rng = SpriteOracle(), np.random.default_rng(seed)
    y_train, y_test = oracle.sample_factors(protocol.num_train, rng), oracle.sample_factors(protocol.num_test, rng)
    out = {}
    for mix in mixes:
        z_train, z_test = mixed_codes(y_train, mix, rng), mixed_codes(y_test, mix, rng)
        out[f"mix {mix}"] = {
            estimator: {"disentanglement": round(r.disentanglement, 4), "completeness": round(r.completeness, 4),
                        "informativeness": round(r.informativeness_test, 4)}
            for estimator in ("fast", "gbt")
            for r in [dci(z_train, y_train, z_test, y_test, estimator=estimator, random_state=seed)]
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--compare", action="store_true")
    args = parser.parse_args()
    names = sprite_models()[:1] if args.quick else sprite_models()
    protocol = DEFAULT_PROTOCOL
    if args.quick:
        protocol = replace(protocol, num_train=500, num_test=200, factor_vae_train_votes=20, factor_vae_eval_votes=20)
    results = {}
    for name in names:
        model = vc.load_checkpoint(CHECKPOINTS / name).model
        t = time.perf_counter()
        report = evaluate_disentanglement(model, SpriteOracle(), protocol).summary()
        entry = {"default": {k: round(report[k], 4) for k in SCORES},
                 "default_seconds": {**report["seconds"], "wall": round(time.perf_counter() - t, 2)}}
        if args.compare:
            full = replace(protocol, factor_vae_train_votes=10_000, factor_vae_eval_votes=5_000)
            t = time.perf_counter()
            votes = evaluate_disentanglement(model, SpriteOracle(), full)
            entry["factor_vae_10000_votes"] = {"score": round(votes.factor_vae.eval_accuracy, 4),
                                               "seconds": round(time.perf_counter() - t, 2)}
            entry["dci_fast_vs_gbt"] = dci_agreement(model, protocol)
        results[name] = entry
    codes = dci_agreement_on_codes(protocol) if args.compare else None
    _common.emit({"quick": args.quick, "protocol": protocol.to_dict(), "models": results, "dci_on_codes": codes,
                  "threads": torch.get_num_threads(), "machine": _common.machine()})


if __name__ == "__main__":
    main()
