"""The Gaussian-latent VAE with an MLP or a convolutional encoder/decoder (Kingma & Welling, 2014).

encoder -> q(z|x) = N(mu, sigma^2) -> z = mu + sigma * eps -> decoder p(x|z), Bernoulli pixels.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ..config import ModelConfig, TrainConfig
from .base import ACTIVE_UNIT_THRESHOLD, Batch, LatentModel, LatentSpace, LossTerms, StepContext
from .losses import elbo_terms
from .nets import dense_decoder, dense_encoder
from .objectives import Discriminator, PosteriorMemory, factor_vae_terms, tc_decomposition


class GaussianVAE(LatentModel):
    """encode(x) -> (mu, logvar); reparameterize; decode(z) -> Bernoulli logits."""

    family: ClassVar[str] = "gaussian"
    headline: ClassVar[tuple[str, ...]] = ("test_loss", "test_recon", "test_kl")

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        d, hidden = config.latent_dim, config.hidden
        layers = config.hidden_layers
        self.encoder = dense_encoder(config.arch, config.image_shape, hidden, layers)
        self.decoder = dense_decoder(config.arch, config.image_shape, d, config.decoder_hidden or hidden, layers)
        self.to_mu = nn.Linear(hidden, d)
        self.to_logvar = nn.Linear(hidden, d)

    @property
    def latent_space(self) -> LatentSpace:
        return LatentSpace("continuous", self.config.latent_dim)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)  # (B, hidden)
        return self.to_mu(h), self.to_logvar(h)  # (B, D), (B, D)

    @staticmethod
    def reparameterize(
        mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """z = mu + sigma * eps with eps ~ N(0, I): the sample stays differentiable in mu, sigma."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits (B, C, H, W); apply sigmoid for pixel means."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, generator)
        return self.decode(z), mu, logvar

    def auxiliary(self, config: TrainConfig) -> nn.Module | None:
        """FactorVAE's discriminator (trained beside the model), or β-TCVAE's posterior memory: kept in
        the trainer state, not the model."""
        if config.objective == "beta-tcvae" and config.tc_memory > 0:
            return PosteriorMemory(config.tc_memory * config.batch_size, self.config.latent_dim)
        if config.objective != "factor-vae":
            return None
        return Discriminator(self.config.latent_dim)

    def loss_terms(self, batch: Batch, ctx: StepContext) -> LossTerms:
        """-ELBO terms, and the objective chosen in the training config (models/objectives.py)."""
        x = batch["images"]
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, ctx.generator)
        logits = self.decode(z)
        mu, logvar, z = mu.float(), logvar.float(), z.float()  # the loss in float32
        t = elbo_terms(logits.float(), x, mu, logvar, ctx.beta)
        terms = {"loss": t.neg_elbo, "recon": t.recon, "kl": t.kl}
        objective = ctx.train.objective
        loss = t.loss
        if objective == "beta-vae" and ctx.train.free_bits > 0:  # a dimension under λ feels no KL gradient
            loss = t.recon + ctx.beta * t.kl_per_dim.clamp_min(ctx.train.free_bits).sum()
        elif objective == "beta-tcvae":
            memory = ctx.auxiliary if isinstance(ctx.auxiliary, PosteriorMemory) else None
            mi, tc, dwkl = tc_decomposition(z, mu, logvar, ctx.n_train, memory)
            if memory is not None:
                memory.push(mu, logvar)
            loss = t.recon + mi + ctx.beta * tc + dwkl
            terms.update(mi=mi, tc=tc, dimension_kl=dwkl)
        elif objective == "factor-vae":
            tc, d_loss, d_accuracy = factor_vae_terms(z, ctx.auxiliary, ctx.generator)
            loss = t.recon + t.kl + ctx.train.gamma * tc + d_loss  # d_loss only reaches the discriminator
            terms.update(tc=tc, discriminator_loss=d_loss, discriminator_accuracy=d_accuracy)
        elif objective == "capacity":
            c = ctx.train.capacity_at(ctx.epoch_progress)
            loss = t.recon + ctx.train.capacity_gamma * (t.kl - c).abs()
            terms["capacity"] = torch.tensor(c)
        return LossTerms(loss, terms, {"kl_per_dim": t.kl_per_dim})

    @torch.no_grad()
    def evaluate_terms(self, batch: Batch, ctx: StepContext) -> LossTerms:
        x = batch["images"]
        logits, mu, logvar = self(x, generator=ctx.generator)
        t = elbo_terms(logits.float(), x, mu.float(), logvar.float(), 1.0)
        out = LossTerms(t.neg_elbo, {"loss": t.neg_elbo, "recon": t.recon, "kl": t.kl}, {"kl_per_dim": t.kl_per_dim})
        out.vectors["mu_mean"] = mu.float().mean(0)  # for the variance of E_q[z|x] over the data
        out.vectors["mu_sq_mean"] = mu.float().pow(2).mean(0)
        return out

    def test_metrics(self, sums: dict[str, float], vectors: dict[str, torch.Tensor], n: int) -> dict:
        """-ELBO and its terms; KL and the variance of E_q[z_d|x] per dimension; active units."""
        out = {f"test_{k}": v / n for k, v in sums.items()}
        out["test_kl_per_dim"] = (vectors["kl_per_dim"] / n).tolist()
        mean, sq = vectors["mu_mean"] / n, vectors["mu_sq_mean"] / n
        var = ((sq - mean.pow(2)) * n / max(n - 1, 1)).clamp_min(0)  # unbiased, as active_units computes it
        out["test_mu_var"] = var.tolist()
        out["test_active_units"] = int((var > ACTIVE_UNIT_THRESHOLD).sum())
        return out

    @torch.no_grad()
    def set_metrics(self, images: torch.Tensor) -> dict:
        """The average KL split into index-code MI, total correlation and dimension-wise KL."""
        from ..analysis import encode, kl_decomposition  # analysis imports the models package

        mu, logvar = encode(self, images)
        parts = kl_decomposition(mu.float().cpu(), logvar.float().cpu())
        return {"test_mi": parts.mutual_info, "test_tc": parts.total_correlation,
                "test_dimension_kl": parts.dimension_kl}

    def reconstruct_logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x)[0])

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode(x)[0]

    def sample(self, n: int, generator: torch.Generator, **condition) -> torch.Tensor:
        z = torch.randn(n, self.config.latent_dim, generator=generator)
        return self.decode(z)


VAE = GaussianVAE  # the name the rest of the explorer and its users know
