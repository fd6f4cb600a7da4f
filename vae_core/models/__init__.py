"""Model families behind one interface (`LatentModel`), looked up by the config's `family`.

To add a family: subclass `LatentModel` in a module of its own, implement its methods, and
add the class to FAMILY_CLASSES below (see docs/architecture.md).
"""

from __future__ import annotations

import torch

from ..config import ModelConfig
from .autoencoder import Autoencoder
from .base import Batch, LatentModel, LatentSpace, LossTerms, StepContext, init_weights
from .gaussian import VAE, GaussianVAE
from .losses import ELBOTerms, bernoulli_nll, elbo_terms, gaussian_kl, kl_per_dim
from .m2 import M2
from .vq import VQVAE

FAMILY_CLASSES: dict[str, type[LatentModel]] = {"gaussian": GaussianVAE, "vq": VQVAE, "m2": M2, "ae": Autoencoder}

FAMILY_DESCRIPTIONS = {
    "gaussian": "VAE: continuous z ~ N(μ, σ²), prior N(0, I) (Kingma & Welling, 2014)",
    "vq": "VQ-VAE: a grid of discrete codes from a learned codebook (van den Oord et al., 2017)",
    "m2": "M2: semi-supervised VAE, a class y and a style z (Kingma et al., 2014)",
    "ae": "Autoencoder: a deterministic z and no KL, to set beside a VAE (its codes leave holes)",
}


def build_model(config: ModelConfig, generator: torch.Generator | None = None) -> LatentModel:
    """A fresh model of the config's family; with `generator`, its weights are drawn from it."""
    cls = FAMILY_CLASSES.get(config.family)
    if cls is None:
        raise ValueError(f"no model family {config.family!r}; known: {', '.join(FAMILY_CLASSES)}")
    if generator is None:
        return cls(config)
    with torch.random.fork_rng(devices=[]):  # the layers' own init draws globally; it is redrawn just below
        model = cls(config)
    init_weights(model, generator)
    return model


def expected_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Parameter and buffer name -> shape for a config, without allocating weights."""
    with torch.device("meta"):
        model = build_model(config)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


__all__ = [
    "Autoencoder", "Batch", "ELBOTerms", "FAMILY_CLASSES", "FAMILY_DESCRIPTIONS", "GaussianVAE", "LatentModel",
    "LatentSpace",
    "LossTerms", "M2", "StepContext", "VAE", "VQVAE", "bernoulli_nll", "build_model", "elbo_terms", "expected_shapes",
    "gaussian_kl", "init_weights", "kl_per_dim",
]
