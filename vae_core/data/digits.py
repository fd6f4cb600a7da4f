"""scikit-learn's bundled 8x8 handwritten digits, read without importing scikit-learn."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from .base import Dataset, split_indices


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


