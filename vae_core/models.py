"""Gaussian-latent VAE with an MLP or a convolutional encoder/decoder (Kingma & Welling, 2014)."""

from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig

_CONV_CHANNELS = (32, 32, 64, 64)


def _conv_downsamples(h: int, w: int) -> int:
    """Stride-2 stages: halve while both sides stay even and above 4 (64->4, 28->7, 8->4)."""
    n = 0
    while h % 2 == 0 and w % 2 == 0 and min(h, w) > 4 and n < len(_CONV_CHANNELS):
        h, w, n = h // 2, w // 2, n + 1
    return max(n, 1)


class VAE(nn.Module):
    """encode(x) -> (mu, logvar); reparameterize; decode(z) -> Bernoulli logits."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        c, h, w = config.image_shape
        d, hidden = config.latent_dim, config.hidden
        if config.arch == "mlp":
            n_pixels = c * h * w
            self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(n_pixels, hidden), nn.ReLU())
            self.decoder = nn.Sequential(
                nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, n_pixels), nn.Unflatten(1, (c, h, w))
            )
        else:
            stages = _conv_downsamples(h, w)
            chans = (c, *_CONV_CHANNELS[:stages])
            down = []
            for cin, cout in zip(chans[:-1], chans[1:]):
                down += [nn.Conv2d(cin, cout, 4, stride=2, padding=1), nn.ReLU()]
            bh, bw = h >> stages, w >> stages
            flat = chans[-1] * bh * bw
            self.encoder = nn.Sequential(*down, nn.Flatten(), nn.Linear(flat, hidden), nn.ReLU())
            up = []
            rev = chans[::-1]
            for i, (cin, cout) in enumerate(zip(rev[:-1], rev[1:])):
                up.append(nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1))
                if i < len(rev) - 2:  # no activation on the output logits
                    up.append(nn.ReLU())
            self.decoder = nn.Sequential(
                nn.Linear(d, hidden),
                nn.ReLU(),
                nn.Linear(hidden, flat),
                nn.ReLU(),
                nn.Unflatten(1, (chans[-1], bh, bw)),
                *up,
            )
        self.to_mu = nn.Linear(hidden, d)
        self.to_logvar = nn.Linear(hidden, d)

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

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def build_model(config: ModelConfig) -> VAE:
    return VAE(config)


def expected_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Parameter name -> shape for a config, without allocating weights."""
    with torch.device("meta"):
        model = VAE(config)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}
