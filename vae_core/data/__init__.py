"""Data sources behind one registry: name -> `Dataset` (images in [0, 1], labels, factors, split).

`base` holds what every source shares; each source is a module of its own and imports only `base`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .base import Dataset, DatasetError, balanced_label_mask, default_data_dir, split_indices
from .digits import load_digits_dataset
from .dsprites import load_dsprites
from .idx import load_fashion_mnist, load_mnist
from .sprites import load_sprites_dataset, render_sprites


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


__all__ = [
    "DATASETS", "Dataset", "DatasetError", "DatasetSpec", "balanced_label_mask", "default_data_dir",
    "load_dataset", "load_dsprites", "load_mnist", "load_fashion_mnist", "render_sprites", "split_indices",
]
