"""Factor oracles: images for any chosen ground-truth factor values, so that the metrics' sampling
("fix one factor, vary the others") is exact rather than a search through a finite dataset.

- sprites: the procedural renderer draws any point of the factor grid.
- dsprites: the official file holds the whole grid in order; it is read once, in full (3 GB of
  uint8), and indexed by grid position. A subsampled file cannot serve as an oracle.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.base import DatasetError
from ..data.dsprites import DSPRITES_GRID, _header, _read_rows, _resolve
from ..data.sprites import SPRITE_FACTOR_NAMES, SPRITE_GRID, render_sprites


class FactorOracle:
    """Images for integer factor classes (N, K) on a grid of `factor_sizes`."""

    factor_names: tuple[str, ...] = ()
    factor_sizes: tuple[int, ...] = ()

    def images(self, classes: np.ndarray) -> torch.Tensor:
        """(N, C, H, W) float32 in [0, 1]."""
        raise NotImplementedError

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n points drawn uniformly from the grid: (n, K) int64."""
        return np.stack([rng.integers(0, size, n) for size in self.factor_sizes], axis=1).astype(np.int64)


class SpriteOracle(FactorOracle):
    factor_names = SPRITE_FACTOR_NAMES
    factor_sizes = SPRITE_GRID

    def images(self, classes: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(render_sprites(classes)).unsqueeze(1).float()


@dataclass
class GridOracle(FactorOracle):
    """Images stored for every point of a grid, in row-major grid order (N = prod(sizes))."""

    grid_images: np.ndarray  # (prod(sizes), H, W) uint8, 0/1 or 0..255
    factor_sizes: tuple[int, ...]
    factor_names: tuple[str, ...]
    scale: float = 1.0

    def images(self, classes: np.ndarray) -> torch.Tensor:
        index = np.ravel_multi_index(np.asarray(classes, dtype=np.int64).T, self.factor_sizes)
        return torch.from_numpy(self.grid_images[index]).unsqueeze(1).float().div_(self.scale)


def dsprites_oracle(path: str | Path | None = None, grid: tuple[int, ...] = DSPRITES_GRID) -> GridOracle:
    """The full dSprites file as an oracle. `grid` is the file's own (colour first); it is checked
    row by row against `latents_classes`, and the constant colour factor is dropped."""
    file = _resolve(path)
    label = file.name
    total = int(np.prod(grid))
    try:
        npz = np.load(file, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"{label}: cannot open the archive ({exc})") from None
    with npz:
        heads = {k: _header(npz.zip, k, label) for k in ("imgs", "latents_classes")}
        for key, (_, shape, _, _) in heads.items():
            if shape[0] != total:
                raise DatasetError(f"{label}: {key} holds {shape[0]:,} rows, not the whole grid of {total:,}; "
                                   "a factor oracle needs the full file")
        rows = np.arange(total)
        arrays = {k: _read_rows(npz.zip, info, hl, shape, dtype, rows, k, label)
                  for k, (info, shape, dtype, hl) in heads.items()}
    expected = np.stack(np.unravel_index(rows, grid), axis=1)
    if not np.array_equal(arrays["latents_classes"].astype(np.int64), expected):
        raise DatasetError(f"{label}: the rows are not in factor-grid order")
    imgs = arrays["imgs"]
    sizes = tuple(int(s) for s in grid[1:])
    return GridOracle(imgs.reshape(total, *imgs.shape[1:]), sizes, SPRITE_FACTOR_NAMES[: len(sizes)],
                      scale=255.0 if imgs.max() > 1 else 1.0)


FACTOR_DATASETS = ("sprites", "dsprites")  # the datasets with a factor oracle (below)


def measurable(family: str, dataset: str | None) -> bool:
    """Whether the disentanglement metrics apply: a Gaussian code of a dataset with known factors."""
    return family == "gaussian" and dataset in FACTOR_DATASETS


def oracle_for(dataset: str, data_dir: str | Path | None = None) -> FactorOracle:
    """The oracle of a dataset with ground-truth factors; DatasetError for the others."""
    if dataset == "sprites":
        return SpriteOracle()
    if dataset == "dsprites":
        return dsprites_oracle(data_dir)
    raise DatasetError(f"{dataset!r} has no ground-truth factors: disentanglement metrics need sprites or dsprites")
