"""Pure functions over a trained model's latent space, for every family. Nothing here mutates the model.

Functions that need a continuous z with a N(0, I) prior (traversals, posterior samples, the
decoded plane) work for the gaussian and m2 families; for m2 the class y is held fixed (given,
or predicted by q(y|x)). They raise `LatentError` with a sentence a page can show for a VQ-VAE.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from ..models import LatentModel, bernoulli_nll, kl_per_dim
from ..models.base import ACTIVE_UNIT_THRESHOLD
from .projection import Projection

ENCODE_BATCH = 256  # a conv encoder's activations stay small, and it is no slower than larger batches


class LatentError(ValueError):
    """The operation does not apply to this model's latent space; the message says why."""


def _continuous(model: LatentModel, what: str) -> None:
    if model.latent_space.kind == "codebook":
        raise LatentError(f"{what} needs a continuous latent with a Gaussian prior; a VQ-VAE's latent is a grid "
                          "of discrete codes (see the Codebook page)")


def _posterior(model: LatentModel, what: str) -> None:
    _continuous(model, what)
    if model.latent_space.kind == "deterministic":
        raise LatentError(f"{what} needs q(z|x) = N(μ, σ²); an autoencoder's encoder gives one code per image, "
                          "with no σ (its codes are what `embed` returns)")


def _batched(fn: Callable[[torch.Tensor], object], images: torch.Tensor, batch_size: int):
    return [fn(images[start : start + batch_size]) for start in range(0, images.shape[0], batch_size)]


@torch.no_grad()
def encode(model: LatentModel, images: torch.Tensor, batch_size: int = ENCODE_BATCH):
    """(mu, logvar) of q(z|x), each (N, D), for images (N, C, H, W); m2: given the predicted class."""
    _posterior(model, "encoding to (μ, log σ²)")
    parts = _batched(lambda x: model.encode(x)[:2], images, batch_size)
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


@torch.no_grad()
def embed(model: LatentModel, images: torch.Tensor, batch_size: int = ENCODE_BATCH) -> torch.Tensor:
    """One continuous vector per image (N, E): μ for gaussian and m2, mean quantised vector for vq."""
    return torch.cat(_batched(model.embed, images, batch_size))


@torch.no_grad()
def classify(model: LatentModel, images: torch.Tensor, batch_size: int = ENCODE_BATCH) -> torch.Tensor:
    """q(y|x) for an m2 model: class probabilities (N, K)."""
    if model.latent_space.kind != "style_class":
        raise LatentError("only a semi-supervised (m2) model has a classifier q(y|x)")
    return torch.cat(_batched(lambda x: torch.softmax(model.classify(x), dim=1), images, batch_size))


def _z_code(model: LatentModel, z: torch.Tensor, y: int | torch.Tensor | None):
    """What `model.decode` takes for latent vectors z: z itself, or (z, y) for m2."""
    if model.latent_space.kind != "style_class":
        return z
    if y is None:
        raise LatentError("an m2 model decodes a style z together with a class y; choose a class")
    y = torch.as_tensor(y, dtype=torch.long).reshape(-1).expand(z.shape[0])
    return (z, y)


@torch.no_grad()
def decode(model: LatentModel, z, y: int | torch.Tensor | None = None) -> torch.Tensor:
    """Pixel means in [0, 1], (B, C, H, W), for latent vectors z (B, D) (m2: with class y), or for
    whatever the family's own `decode` takes (vq: code indices (B, h, w))."""
    code = _z_code(model, z, y) if isinstance(z, torch.Tensor) and z.is_floating_point() else z
    return torch.sigmoid(model.decode(code))


@torch.no_grad()
def reconstruct(model: LatentModel, images: torch.Tensor, batch_size: int = ENCODE_BATCH) -> torch.Tensor:
    """The deterministic reconstruction: decoded posterior means (vq: nearest codes)."""
    return torch.cat(_batched(lambda x: torch.sigmoid(model.reconstruct_logits(x)), images, batch_size))


@torch.no_grad()
def reconstruction_error(model: LatentModel, images: torch.Tensor, batch_size: int = ENCODE_BATCH) -> torch.Tensor:
    """-log p(x | deterministic code) per image, in nats (N,): unusual inputs score high (an anomaly score)."""
    return torch.cat(_batched(lambda x: bernoulli_nll(model.reconstruct_logits(x), x), images, batch_size))


@torch.no_grad()
def sample_prior(model: LatentModel, n: int, seed: int = 0, **condition) -> torch.Tensor:
    """Decode n draws from the model's prior (m2: `y=` for one class)."""
    return torch.sigmoid(model.sample(n, torch.Generator().manual_seed(seed), **condition))


@torch.no_grad()
def sample_posterior(model: LatentModel, image: torch.Tensor, n: int, seed: int = 0):
    """Decode n draws of z ~ q(z|x) for one image (C, H, W): (samples, their pixel-wise std)."""
    _posterior(model, "sampling q(z|x)")
    out = model.encode(image.unsqueeze(0))
    mu, logvar = out[0], out[1]
    gen = torch.Generator().manual_seed(seed)
    eps = torch.randn((n, mu.shape[1]), generator=gen)
    z = mu + torch.exp(0.5 * logvar) * eps
    y = out[2].argmax(dim=1) if model.latent_space.kind == "style_class" else None
    x = decode(model, z, y)
    return x, x.std(dim=0)


def traverse(model: LatentModel, z: torch.Tensor, dim: int, values, y=None) -> torch.Tensor:
    """Decode copies of z (D,) with dimension `dim` set to each of `values`: (len(values), C, H, W)."""
    _continuous(model, "a traversal")
    values = torch.as_tensor(values, dtype=z.dtype)
    zs = z.detach().reshape(1, -1).repeat(len(values), 1)
    zs[:, dim] = values
    return decode(model, zs, y)


def traversal_grid(model: LatentModel, z: torch.Tensor, dims: list[int], values: torch.Tensor, y=None):
    """Rows = dims, columns = values: (len(dims) * T, C, H, W), row-major, in one decode.

    `values` is (T,) for every row, or (len(dims), T) for a range of its own per row.
    """
    _continuous(model, "a traversal")
    values = torch.as_tensor(values, dtype=z.dtype).expand(len(dims), -1)
    zs = z.detach().reshape(1, 1, -1).repeat(len(dims), values.shape[1], 1)
    for row, d in enumerate(dims):
        zs[row, :, d] = values[row]
    return decode(model, zs.reshape(len(dims) * values.shape[1], -1), y)


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Straight line: (T, D) for t (T,)."""
    t = t.reshape(-1, 1)
    return (1 - t) * z0 + t * z1


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Great-circle path with linearly changing norm (White, 2016): (T, D) for t (T,).

    Between endpoints of equal norm the norm stays constant, which keeps the path in the
    shell where most of a Gaussian prior's mass lies.
    """
    t = t.reshape(-1, 1)
    n0, n1 = z0.norm(), z1.norm()
    if n0 < eps or n1 < eps:
        return lerp(z0, z1, t.flatten())
    u0, u1 = z0 / n0, z1 / n1
    omega = torch.arccos(torch.clamp((u0 * u1).sum(), -1.0, 1.0))
    if omega.abs() < 1e-4:  # nearly parallel: direction barely changes
        direction = lerp(u0, u1, t.flatten())
        direction = direction / direction.norm(dim=1, keepdim=True)
    else:
        so = torch.sin(omega)
        direction = (torch.sin((1 - t) * omega) * u0 + torch.sin(t * omega) * u1) / so
    return direction * ((1 - t) * n0 + t * n1)


INTERPOLATIONS: dict[str, Callable] = {"lerp": lerp, "slerp": slerp}


def interpolate(z0: torch.Tensor, z1: torch.Tensor, steps: int, method: str = "lerp") -> torch.Tensor:
    if method not in INTERPOLATIONS:
        raise ValueError(f"method must be one of {', '.join(INTERPOLATIONS)}, got {method!r}")
    if steps < 2:
        raise ValueError(f"steps must be at least 2, got {steps}")
    return INTERPOLATIONS[method](z0.reshape(-1), z1.reshape(-1), torch.linspace(0.0, 1.0, steps))


@torch.no_grad()
def path_diagnostics(path: torch.Tensor, encoded: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per step of a latent path (S, D): its norm, its log-density under the prior N(0, I), and its
    distance to the nearest encoded point (N, D). Low density or a long way to the data: a step through
    a region the decoder was never trained on."""
    d = path.shape[1]
    return {
        "norm": path.norm(dim=1),
        "log_prior": -0.5 * (path.pow(2).sum(1) + d * math.log(2 * math.pi)),
        "nearest": torch.cdist(path, encoded).min(dim=1).values,
    }


def plane_grid(lo: tuple[float, float], hi: tuple[float, float], n: int) -> np.ndarray:
    """n x n points over a rectangle, row-major with y decreasing (top row = largest y): (n*n, 2)."""
    xs = np.linspace(lo[0], hi[0], n)
    ys = np.linspace(hi[1], lo[1], n)
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def decode_plane(model: LatentModel, projection: Projection, points: np.ndarray, y=None) -> torch.Tensor:
    """Decode 2D points of a projection's plane (needs an invertible projection)."""
    if projection.inverse is None:
        raise ValueError(f"a {projection.method} projection cannot be inverted; use PCA or a 2D latent")
    z = torch.as_tensor(projection.inverse(points), dtype=torch.float32)
    return decode(model, z, y)


def dataset_kl_per_dim(model: LatentModel, images: torch.Tensor) -> torch.Tensor:
    """Mean KL(q(z_d|x) || N(0,1)) over the images, per dimension: (D,)."""
    mu, logvar = encode(model, images)
    return kl_per_dim(mu, logvar)


def active_units(mu: torch.Tensor, threshold: float = ACTIVE_UNIT_THRESHOLD) -> torch.Tensor:
    """Boolean (D,): the variance over the data of E_q[z_d|x] exceeds `threshold` (Burda et al., 2016).
    The one definition of an active dimension: the trainer's history uses the same threshold."""
    if mu.shape[0] < 2:
        raise ValueError("active units need at least two encoded inputs")
    return mu.var(dim=0, unbiased=True) > threshold


def aggregate_std(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Std per dimension of the aggregate posterior (mixture of the q(z|x)): (D,)."""
    var = mu.var(dim=0, unbiased=False) + logvar.exp().mean(dim=0)
    return var.sqrt()
