"""Anomaly scores, the ROC of out-of-distribution detection, and `evaluate --ood-dataset`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import vae_core as vc
from vae_core.analysis.anomaly import anomaly_scores, ood_roc, scores_for

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def test_auc_of_a_constructed_case():
    # 9 (in, out) pairs; the out score is higher in 8 of them: 0<1.5, 1<1.5, 2<3, 2<4, ... but not 2 vs 1.5
    roc = ood_roc([0.0, 1.0, 2.0], [1.5, 3.0, 4.0])
    assert roc.auc == pytest.approx(8 / 9)
    assert roc.fpr[0] == 0 and roc.tpr[-1] == 1 and np.all(np.diff(roc.fpr) >= 0)
    assert ood_roc([1.0, 2.0], [1.0, 2.0]).auc == pytest.approx(0.5)  # the same scores: chance
    assert ood_roc([3.0, 4.0], [1.0, 2.0]).auc == 0.0  # OOD looks *more* likely: every pair reversed


def test_roc_refuses_empty_or_non_finite_scores():
    with pytest.raises(vc.LatentError, match="needs scores of both"):
        ood_roc([], [1.0])
    with pytest.raises(vc.LatentError, match="must be finite"):
        ood_roc([1.0, float("nan")], [2.0])


@pytest.fixture(scope="module")
def digits_model():
    data = vc.load_dataset("digits")
    model = vc.build_model(vc.ModelConfig(image_shape=(1, 8, 8), arch="mlp", hidden=64, latent_dim=4),
                           torch.Generator().manual_seed(0))
    vc.fit(model, data.train_images, vc.TrainConfig(epochs=5, batch_size=64, lr=3e-3, seed=0))
    return model, data.test_images


def test_noise_scores_higher_than_digits_with_every_score(digits_model):
    model, digits = digits_model
    noise = torch.rand(len(digits), 1, 8, 8, generator=torch.Generator().manual_seed(0))
    for score in scores_for(model):
        s_in, s_out = anomaly_scores(model, digits, score), anomaly_scores(model, noise, score)
        assert s_in.shape == (len(digits),)
        assert ood_roc(s_in.numpy(), s_out.numpy()).auc > 0.95, score
    # −ELBO ≥ −IWAE on average: the bound is tighter
    assert anomaly_scores(model, digits, "neg_elbo").mean() >= anomaly_scores(model, digits, "iwae").mean()


def test_scores_a_vq_model_has_not_are_refused_by_name():
    model = vc.build_model(vc.ModelConfig(image_shape=(1, 28, 28), family="vq", latent_dim=8, hidden=16),
                           torch.Generator().manual_seed(0))
    assert scores_for(model) == ["reconstruction"]
    with pytest.raises(vc.LatentError, match="the iwae score needs a Gaussian VAE; a vq model has: reconstruction"):
        anomaly_scores(model, torch.rand(2, 1, 28, 28), "iwae")
    assert anomaly_scores(model, torch.rand(2, 1, 28, 28), "reconstruction").shape == (2,)


def _evaluate(*args):
    return subprocess.run([sys.executable, "-m", "vae_core.evaluate", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_the_cli_refuses_a_dataset_of_another_image_size():
    proc = _evaluate("--checkpoint", "checkpoints/digits-10d", "--ood-dataset", "sprites", "--ood-samples", "50")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: sprites images are 1×64×64; the model takes 1×8×8"


def test_the_cli_reports_the_auroc_of_mnist_against_fashion_mnist():
    for name in ("mnist", "fashion-mnist"):
        if not (SHARED_DATA / name).is_dir():
            pytest.skip(f"the real {name} files are not in {SHARED_DATA / name}")
    proc = _evaluate("--checkpoint", "checkpoints/mnist-mlp-20d", "--ood-dataset", "fashion-mnist",
                     "--ood-samples", "500")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["score"] == "iwae" and out["n_in"] == out["n_out"] == 500
    assert out["ood_auroc"] > 0.99  # clothes are nothing like digits to an MNIST model
    assert out["out_score_mean"] > out["in_score_mean"]
