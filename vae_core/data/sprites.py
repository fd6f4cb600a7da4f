"""Sprites rendered procedurally on the dSprites factor grid (shape, scale, orientation, x, y)."""

from __future__ import annotations

import math

import numpy as np
import torch

from .base import Dataset, DatasetError, split_indices

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


_WINDOW_HALF = 17  # pixels: covers every shape's farthest point (≤ 1.4 radii = 15.4 px) from its centre


def render_sprites(classes: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Render binary 64x64 sprites, one per row of factor classes (N, 5) -> (N, 64, 64) uint8.

    Each sprite is tested only on a 34×34 window around its centre (a quarter of the image) and
    pasted into a padded canvas; a pixel's arithmetic is the same as over the whole image."""
    classes = np.asarray(classes, dtype=np.int64)
    if classes.ndim != 2 or classes.shape[1] != 5:
        raise DatasetError(f"sprite factor classes must have shape (N, 5), got {classes.shape}")
    if ((classes < 0) | (classes >= np.array(SPRITE_GRID))).any():
        raise DatasetError(f"sprite factor classes out of range; grid is {SPRITE_GRID}")
    values = sprite_factor_values(classes)
    pad, size = _WINDOW_HALF + 1, 2 * _WINDOW_HALF
    canvas = np.zeros((len(classes), SPRITE_SIZE + 2 * pad, SPRITE_SIZE + 2 * pad), dtype=np.uint8)
    offsets = np.arange(size)
    span = SPRITE_SIZE - 2 * _SPRITE_MARGIN
    for kind, inside in enumerate(_SHAPE_TESTS):
        rows = np.flatnonzero(classes[:, 0] == kind)
        for start in range(0, len(rows), chunk):
            idx = rows[start : start + chunk]
            v = values[idx]
            radius = v[:, 1, None, None] * _SPRITE_HALF_SIZE
            cos, sin = np.cos(v[:, 2])[:, None, None], np.sin(v[:, 2])[:, None, None]
            cx, cy = _SPRITE_MARGIN + v[:, 3] * span, _SPRITE_MARGIN + v[:, 4] * span
            col = np.floor(cx).astype(np.int64)[:, None] - _WINDOW_HALF + offsets  # (n, size) pixel indices
            row = np.floor(cy).astype(np.int64)[:, None] - _WINDOW_HALF + offsets
            dx = ((col.astype(np.float32) + np.float32(0.5)) - cx[:, None])[:, None, :] / radius
            dy = ((row.astype(np.float32) + np.float32(0.5)) - cy[:, None])[:, :, None] / radius
            u, w = cos * dx + sin * dy, cos * dy - sin * dx  # rotate into the sprite's frame
            canvas[idx[:, None, None], row[:, :, None] + pad, col[:, None, :] + pad] = inside(u, w)
    return np.ascontiguousarray(canvas[:, pad : pad + SPRITE_SIZE, pad : pad + SPRITE_SIZE])


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


