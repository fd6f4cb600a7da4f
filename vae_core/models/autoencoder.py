"""The plain autoencoder: a deterministic encoder x → z and a decoder z → x̂, trained on the
reconstruction alone. No KL pulls its codes towards N(0, I), so they spread wherever suits the
decoder, and a point drawn from N(0, I) often lands in a "hole" the decoder was never trained on:
the contrast that shows what the VAE's KL term buys."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from .base import Batch, LatentModel, LatentSpace, LossTerms, StepContext
from .nets import dense_decoder, dense_encoder


class Autoencoder(LatentModel):
    family: ClassVar[str] = "ae"
    headline: ClassVar[tuple[str, ...]] = ("test_loss",)

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.encoder = dense_encoder(config.arch, config.image_shape, config.hidden, config.hidden_layers)
        self.to_z = nn.Linear(config.hidden, config.latent_dim)
        self.decoder = dense_decoder(config.arch, config.image_shape, config.latent_dim, config.hidden,
                                     config.hidden_layers)

    @property
    def latent_space(self) -> LatentSpace:
        return LatentSpace("deterministic", self.config.latent_dim)

    def loss_terms(self, batch: Batch, ctx: StepContext) -> LossTerms:
        x = batch["images"]
        logits = self.decode(self.encode(x)).float()
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
        return LossTerms(recon, {"loss": recon, "recon": recon})

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_z(self.encoder(x))  # (B, D)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def reconstruct_logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode(x)

    def sample(self, n: int, generator: torch.Generator, **condition) -> torch.Tensor:
        """Decodes of N(0, I) draws: the prior a VAE would have. An autoencoder never learned it."""
        return self.decode(torch.randn(n, self.config.latent_dim, generator=generator))
