"""Datasets behind one registry: name -> images in [0, 1] (N, C, H, W), labels, factors."""

from __future__ import annotations

import importlib.util
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

TEST_FRACTION = 0.2
SPLIT_SEED = 1234  # fixed so a model's test set is the same wherever it is reloaded


class DatasetError(ValueError):
    """A dataset could not be built or read; the message says what to fix."""


@dataclass(frozen=True, eq=False)
class Dataset:
    name: str
    images: torch.Tensor  # (N, C, H, W) float32 in [0, 1]
    labels: torch.Tensor  # (N,) int64
    label_names: tuple[str, ...]
    train_index: torch.Tensor  # (N_train,) int64
    test_index: torch.Tensor  # (N_test,) int64
    factors: torch.Tensor | None = None  # (N, K) ground-truth factor values
    factor_classes: torch.Tensor | None = None  # (N, K) their integer grid positions
    factor_names: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)  # how to rebuild it

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, h, w = self.images.shape[1:]
        return (int(c), int(h), int(w))

    @property
    def train_images(self) -> torch.Tensor:
        return self.images[self.train_index]

    @cached_property
    def test_images(self) -> torch.Tensor:
        """A copy made once: pages read it on every rerun."""
        return self.images[self.test_index]

    def __len__(self) -> int:
        return int(self.images.shape[0])


def split_indices(n: int, test_fraction: float = TEST_FRACTION, seed: int = SPLIT_SEED):
    """A fixed, seeded train/test split of range(n)."""
    if n < 2:
        raise DatasetError(f"a dataset needs at least 2 images, got {n}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    # at least two test images once there are four (statistics over one image are undefined)
    n_test = min(n - 2, max(2, round(n * test_fraction))) if n >= 4 else 1
    return perm[n_test:].sort().values, perm[:n_test].sort().values


# --- digits: scikit-learn's bundled 8x8 handwritten digits --------------------------------


def _digits_array() -> np.ndarray:
    """scikit-learn's digits.csv.gz, read without importing sklearn (that import costs ~1-2 s)."""
    spec = importlib.util.find_spec("sklearn")
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz" if spec and spec.origin else None
    if path is not None and path.is_file():
        return np.loadtxt(path, delimiter=",", dtype=np.float32)
    from sklearn.datasets import load_digits  # the file moved: fall back to the public API

    bunch = load_digits()
    return np.column_stack([bunch.data, bunch.target]).astype(np.float32)


def load_digits_dataset() -> Dataset:
    table = _digits_array()  # (1797, 65): 64 pixels in 0..16, then the label
    images = torch.from_numpy(table[:, :64].reshape(-1, 1, 8, 8) / 16.0)  # (N, 1, 8, 8)
    labels = torch.from_numpy(table[:, 64].astype(np.int64))
    train, test = split_indices(len(labels))
    return Dataset(
        name="digits",
        images=images,
        labels=labels,
        label_names=tuple(str(d) for d in range(10)),
        train_index=train,
        test_index=test,
    )


# --- sprites: procedurally rendered on the dSprites factor grid ---------------------------

SPRITE_SHAPES = ("square", "ellipse", "heart")
SPRITE_FACTOR_NAMES = ("shape", "scale", "orientation", "pos_x", "pos_y")
SPRITE_GRID = (3, 6, 40, 32, 32)  # 737,280 combinations, as in dSprites
SPRITE_SIZE = 64
SPRITE_SCALES = np.linspace(0.5, 1.0, 6)
SPRITE_ORIENTATIONS = np.linspace(0.0, 2 * math.pi, 40, endpoint=False)
SPRITE_POSITIONS = np.linspace(0.0, 1.0, 32)
_SPRITE_HALF_SIZE = 11.0  # pixels, at scale 1
_SPRITE_MARGIN = 12.0  # pixels from the border to the extreme centres


def sprite_factor_values(classes: np.ndarray) -> np.ndarray:
    """Map integer grid positions (N, 5) to factor values (N, 5)."""
    classes = np.asarray(classes, dtype=np.int64)
    return np.stack(
        [
            classes[:, 0].astype(np.float64),
            SPRITE_SCALES[classes[:, 1]],
            SPRITE_ORIENTATIONS[classes[:, 2]],
            SPRITE_POSITIONS[classes[:, 3]],
            SPRITE_POSITIONS[classes[:, 4]],
        ],
        axis=1,
    ).astype(np.float32)


def _square(u, w):
    return np.maximum(np.abs(u), np.abs(w)) <= 0.8


def _ellipse(u, w):
    return u**2 + (w / 0.5) ** 2 <= 1.0


def _heart(u, w):
    x, y = u * 1.15, -w * 1.15 + 0.1  # the heart curve, pointing down in image coordinates
    return (x**2 + y**2 - 1.0) ** 3 - x**2 * y**3 <= 0.0


_SHAPE_TESTS = (_square, _ellipse, _heart)  # canonical shapes in [-1, 1]^2, same order as SPRITE_SHAPES


def render_sprites(classes: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Render binary 64x64 sprites, one per row of factor classes (N, 5) -> (N, 64, 64) uint8."""
    classes = np.asarray(classes, dtype=np.int64)
    if classes.ndim != 2 or classes.shape[1] != 5:
        raise DatasetError(f"sprite factor classes must have shape (N, 5), got {classes.shape}")
    if ((classes < 0) | (classes >= np.array(SPRITE_GRID))).any():
        raise DatasetError(f"sprite factor classes out of range; grid is {SPRITE_GRID}")
    values = sprite_factor_values(classes)
    out = np.zeros((len(classes), SPRITE_SIZE, SPRITE_SIZE), dtype=np.uint8)
    pix = np.arange(SPRITE_SIZE, dtype=np.float32) + 0.5
    span = SPRITE_SIZE - 2 * _SPRITE_MARGIN
    for kind, inside in enumerate(_SHAPE_TESTS):
        rows = np.flatnonzero(classes[:, 0] == kind)
        for start in range(0, len(rows), chunk):
            idx = rows[start : start + chunk]
            v = values[idx]
            radius = v[:, 1, None, None] * _SPRITE_HALF_SIZE
            cos, sin = np.cos(v[:, 2])[:, None, None], np.sin(v[:, 2])[:, None, None]
            dx = (pix[None, None, :] - (_SPRITE_MARGIN + v[:, 3] * span)[:, None, None]) / radius
            dy = (pix[None, :, None] - (_SPRITE_MARGIN + v[:, 4] * span)[:, None, None]) / radius
            u, w = cos * dx + sin * dy, cos * dy - sin * dx  # rotate into the sprite's frame
            out[idx] = inside(u, w)
    return out


MAX_SPRITES = 100_000  # 100k x 64 x 64 float32 = 1.6 GB; the whole grid would be 12 GB


def sample_sprite_classes(n: int, seed: int = 0, limit: int = int(np.prod(SPRITE_GRID))) -> np.ndarray:
    """n distinct random points of the factor grid, as integer classes (n, 5)."""
    total = int(np.prod(SPRITE_GRID))
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= min(total, limit):
        raise DatasetError(f"sprites: n must be an integer in 1..{min(total, limit):,}, got {n!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise DatasetError(f"sprites: seed must be an integer in 0..2**32-1, got {seed!r}")
    flat = np.random.default_rng(seed).choice(total, size=n, replace=False)
    return np.stack(np.unravel_index(np.sort(flat), SPRITE_GRID), axis=1).astype(np.int64)


def load_sprites_dataset(n: int = 20_000, seed: int = 0) -> Dataset:
    classes = sample_sprite_classes(n, seed, limit=MAX_SPRITES)
    images = torch.from_numpy(render_sprites(classes)).unsqueeze(1).float()
    train, test = split_indices(n)
    return Dataset(
        name="sprites",
        images=images,
        labels=torch.from_numpy(classes[:, 0].copy()),
        label_names=SPRITE_SHAPES,
        train_index=train,
        test_index=test,
        factors=torch.from_numpy(sprite_factor_values(classes)),
        factor_classes=torch.from_numpy(classes),
        factor_names=SPRITE_FACTOR_NAMES,
        params={"n": n, "seed": seed},
    )


# --- registry -------------------------------------------------------------------------------

# Imported here, not at the top: these modules import Dataset and DatasetError from above.
from .dsprites import load_dsprites  # noqa: E402
from .idx import load_fashion_mnist, load_mnist  # noqa: E402


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    loader: Callable[..., Dataset]
    defaults: dict[str, Any] = field(default_factory=dict)


DATASETS: dict[str, DatasetSpec] = {
    "digits": DatasetSpec(
        "digits", "scikit-learn's 1,797 handwritten digits, 8x8 grayscale (bundled)", load_digits_dataset
    ),
    "sprites": DatasetSpec(
        "sprites",
        "procedural 64x64 sprites on the dSprites grid: shape, scale, orientation, x, y",
        load_sprites_dataset,
        {"n": 20_000, "seed": 0},
    ),
    "mnist": DatasetSpec(
        "mnist",
        "MNIST: 70,000 handwritten digits, 28x28 grayscale, official 60k/10k split (downloaded once)",
        load_mnist,
    ),
    "fashion-mnist": DatasetSpec(
        "fashion-mnist",
        "Fashion-MNIST: 70,000 clothing images in 10 classes, 28x28 grayscale, 60k/10k split",
        load_fashion_mnist,
    ),
    "dsprites": DatasetSpec(
        "dsprites",
        "dSprites (DeepMind): 64x64 sprites with 5 known factors; a seeded subsample of the .npz file",
        load_dsprites,
        {"n": 20_000, "seed": 0},
    ),
}


def load_dataset(name: str, **params: Any) -> Dataset:
    """Load a registered dataset by name; `params` override the spec's defaults."""
    spec = DATASETS.get(name)
    if spec is None:
        raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    accepted = set(inspect.signature(spec.loader).parameters)
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise DatasetError(f"dataset {name!r} takes no parameter(s) {', '.join(unknown)}")
    kwargs = {**spec.defaults, **params}
    return spec.loader(**kwargs)
