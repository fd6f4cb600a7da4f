"""Pure functions over a trained VAE's latent space. Nothing here mutates the model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .losses import kl_per_dim
from .models import VAE

ACTIVE_UNIT_THRESHOLD = 0.01  # Burda et al. (2016): Var_x(E_q[z_d|x]) > 0.01
PROJECTIONS = ("pca", "tsne")


@torch.no_grad()
def encode(model: VAE, images: torch.Tensor, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu, logvar), each (N, D), for images (N, C, H, W).

    Batches of 256 keep a conv encoder's activations small (a 2048-batch of 64x64 sprites needs
    ~270 MB for the first layer alone) and are no slower.
    """
    mus, logvars = [], []
    for start in range(0, images.shape[0], batch_size):
        mu, logvar = model.encode(images[start : start + batch_size])
        mus.append(mu)
        logvars.append(logvar)
    return torch.cat(mus), torch.cat(logvars)


@torch.no_grad()
def decode(model: VAE, z: torch.Tensor) -> torch.Tensor:
    """Pixel means in [0, 1], (B, C, H, W), for latent vectors (B, D)."""
    return torch.sigmoid(model.decode(z))


def reconstruct(model: VAE, images: torch.Tensor) -> torch.Tensor:
    """Decode each image's posterior mean."""
    mu, _ = encode(model, images)
    return decode(model, mu)


@torch.no_grad()
def reconstruction_error(model: VAE, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """-log p(x | z = mu) per image, in nats (N,): unusual inputs score high (an anomaly score)."""
    out = []
    for start in range(0, images.shape[0], batch_size):
        x = images[start : start + batch_size]
        mu, _ = model.encode(x)
        logits = model.decode(mu)
        out.append(F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1))
    return torch.cat(out)


def sample_prior(model: VAE, n: int, seed: int = 0) -> torch.Tensor:
    """Decode n draws of z ~ N(0, I)."""
    z = torch.randn(n, model.config.latent_dim, generator=torch.Generator().manual_seed(seed))
    return decode(model, z)


def sample_posterior(model: VAE, image: torch.Tensor, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode n draws of z ~ q(z|x) for one image (C, H, W): (samples, their pixel-wise std)."""
    mu, logvar = encode(model, image.unsqueeze(0))
    gen = torch.Generator().manual_seed(seed)
    z = VAE.reparameterize(mu.expand(n, -1), logvar.expand(n, -1), gen)
    x = decode(model, z)
    return x, x.std(dim=0)


def traverse(model: VAE, z: torch.Tensor, dim: int, values: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Decode copies of z (D,) with dimension `dim` set to each of `values`: (len(values), C, H, W)."""
    values = torch.as_tensor(values, dtype=z.dtype)
    zs = z.detach().reshape(1, -1).repeat(len(values), 1)
    zs[:, dim] = values
    return decode(model, zs)


def traversal_grid(model: VAE, z: torch.Tensor, dims: list[int], values: torch.Tensor) -> torch.Tensor:
    """Rows = dims, columns = values: (len(dims) * T, C, H, W), row-major, in one decode.

    `values` is (T,) for every row, or (len(dims), T) for a range of its own per row.
    """
    values = torch.as_tensor(values, dtype=z.dtype).expand(len(dims), -1)
    zs = z.detach().reshape(1, 1, -1).repeat(len(dims), values.shape[1], 1)
    for row, d in enumerate(dims):
        zs[row, :, d] = values[row]
    return decode(model, zs.reshape(len(dims) * values.shape[1], -1))


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
    return INTERPOLATIONS[method](z0, z1, torch.linspace(0.0, 1.0, steps))


@dataclass(frozen=True)
class Projection:
    """2D coordinates of latent vectors, and (for linear maps) the way back to latent space."""

    coords: np.ndarray  # (N, 2)
    method: str
    axis_labels: tuple[str, str]
    inverse: Callable[[np.ndarray], np.ndarray] | None = None  # (M, 2) -> (M, D)
    explained_variance: tuple[float, float] | None = None
    transform: Callable[[np.ndarray], np.ndarray] | None = None  # (M, D) -> (M, 2), for new points


def _pca_2d(x: np.ndarray) -> Projection:
    """PCA by SVD of the centred data (sklearn's import alone costs ~1 s; this takes milliseconds)."""
    mean = x.mean(axis=0)
    _, sv, vt = np.linalg.svd(x - mean, full_matrices=False)
    if len(vt) < 2:  # a single point has no second direction: use any orthogonal one
        vt = np.linalg.qr(np.vstack([vt, np.eye(x.shape[1])]).T)[0].T
        sv = np.concatenate([sv, [0.0]])
    components = vt[:2].copy()
    largest = components[np.arange(len(components)), np.abs(components).argmax(axis=1)]
    components *= np.where(largest < 0, -1.0, 1.0)[:, None]  # deterministic signs: largest entry > 0
    var = sv**2
    ev = tuple(float(v) for v in var[:2] / var.sum()) if var.sum() > 0 else (0.0, 0.0)

    def transform(m):
        return (np.asarray(m, dtype=np.float64) - mean) @ components.T

    def inverse(p):
        return np.asarray(p, dtype=np.float64) @ components + mean

    return Projection(transform(x), "pca", ("PC1", "PC2"), inverse, ev, transform)


def _tsne_2d(x: np.ndarray, seed: int, progress: Callable[[float], None] | None) -> np.ndarray:
    """openTSNE with FFT gradients and a short schedule (250 + 250 iterations): ~11 s for 10k
    points on 2 cores, where scikit-learn's default takes ~30 s; falls back to scikit-learn."""
    n = len(x)
    perplexity = float(min(30.0, max(2.0, (n - 1) / 3)))
    try:
        from openTSNE import TSNE as OpenTSNE
    except ImportError:
        from sklearn.manifold import TSNE

        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed,
                    max_iter=500).fit_transform(x)
    every, total, calls = 25, 500, [0]

    def report(iteration, error, embedding):
        calls[0] += 1
        if progress is not None:
            progress(min(1.0, calls[0] * every / total))
        return False  # never stop early

    tsne = OpenTSNE(n_components=2, perplexity=perplexity, n_iter=250, early_exaggeration_iter=250,
                    random_state=seed, n_jobs=-1, callbacks=report, callbacks_every_iters=every)
    return np.asarray(tsne.fit(x))


def project_2d(
    mu: torch.Tensor | np.ndarray, method: str = "pca", seed: int = 0,
    progress: Callable[[float], None] | None = None,
) -> Projection:
    """Identity for a 1D/2D latent; otherwise PCA (invertible) or t-SNE. `progress` gets 0..1."""
    x = np.asarray(mu, dtype=np.float64)
    n, d = x.shape
    if d == 1:
        def pad(m):
            m = np.asarray(m, dtype=np.float64)
            return np.stack([m[:, 0], np.zeros(len(m))], axis=1)

        return Projection(pad(x), "identity", ("z0", "(none)"), lambda p: np.asarray(p)[:, :1], transform=pad)
    if d == 2:
        same = lambda p: np.asarray(p, dtype=np.float64)  # noqa: E731
        return Projection(x.copy(), "identity", ("z0", "z1"), inverse=same, transform=same)
    if method == "pca":
        return _pca_2d(x)
    if method == "tsne":
        if n < 5:
            raise ValueError(f"t-SNE needs at least 5 points, got {n}")
        return Projection(_tsne_2d(x, seed, progress), "tsne", ("t-SNE 1", "t-SNE 2"))
    raise ValueError(f"projection must be one of {', '.join(PROJECTIONS)}, got {method!r}")


def plane_grid(lo: tuple[float, float], hi: tuple[float, float], n: int) -> np.ndarray:
    """n x n points over a rectangle, row-major with y decreasing (top row = largest y): (n*n, 2)."""
    xs = np.linspace(lo[0], hi[0], n)
    ys = np.linspace(hi[1], lo[1], n)
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def decode_plane(model: VAE, projection: Projection, points: np.ndarray) -> torch.Tensor:
    """Decode 2D points of a projection's plane (needs an invertible projection)."""
    if projection.inverse is None:
        raise ValueError(f"a {projection.method} projection cannot be inverted; use PCA or a 2D latent")
    z = torch.as_tensor(projection.inverse(points), dtype=torch.float32)
    return decode(model, z)


def dataset_kl_per_dim(model: VAE, images: torch.Tensor) -> torch.Tensor:
    """Mean KL(q(z_d|x) || N(0,1)) over the images, per dimension: (D,)."""
    mu, logvar = encode(model, images)
    return kl_per_dim(mu, logvar)


def active_units(mu: torch.Tensor, threshold: float = ACTIVE_UNIT_THRESHOLD) -> torch.Tensor:
    """Boolean (D,): the variance over the data of E_q[z_d|x] exceeds `threshold`."""
    if mu.shape[0] < 2:
        raise ValueError("active units need at least two encoded inputs")
    return mu.var(dim=0, unbiased=True) > threshold


def aggregate_std(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Std per dimension of the aggregate posterior (mixture of the q(z|x)): (D,)."""
    var = mu.var(dim=0, unbiased=False) + logvar.exp().mean(dim=0)
    return var.sqrt()
