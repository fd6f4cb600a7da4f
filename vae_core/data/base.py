"""What every data source returns: a `Dataset` of images in [0, 1], labels, an optional set of
ground-truth factors, and a fixed train/test split. Sources import this module, never each other."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

TEST_FRACTION = 0.2
SPLIT_SEED = 1234  # fixed so a model's test set is the same wherever it is reloaded
DATA_ENV = "LATENT_EXPLORER_DATA"
_REPO_ROOT = Path(__file__).resolve().parents[2]
GZIP_MAGIC = b"\x1f\x8b"  # the first bytes of every gzip file


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
    def n_classes(self) -> int:
        return len(self.label_names)

    @property
    def train_images(self) -> torch.Tensor:
        return self.images[self.train_index]

    @property
    def train_labels(self) -> torch.Tensor:
        return self.labels[self.train_index]

    @cached_property
    def test_images(self) -> torch.Tensor:
        """A copy made once: pages read it on every rerun."""
        return self.images[self.test_index]

    @cached_property
    def test_labels(self) -> torch.Tensor:
        return self.labels[self.test_index]

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


def balanced_label_mask(labels: torch.Tensor, n_labels: int, n_classes: int, seed: int) -> torch.Tensor:
    """Keep `n_labels` labels spread evenly over the classes (seeded); hide the rest: bool (N,).

    With 100 labels and 10 classes, each class keeps 10 (Kingma et al., 2014). A class with
    too few examples keeps all of them and the remainder goes to the others in turn.
    """
    n = int(labels.shape[0])
    if not 1 <= n_labels <= n:
        raise DatasetError(f"the number of labels to keep must be in 1..{n:,}, got {n_labels}")
    gen = torch.Generator().manual_seed(seed)
    pools = [torch.nonzero(labels == c).flatten() for c in range(n_classes)]
    pools = [p[torch.randperm(len(p), generator=gen)] for p in pools]
    quota = [0] * n_classes
    left = n_labels
    while left:  # round-robin: even shares, then whatever the smaller classes can't take
        progress = False
        for c in range(n_classes):
            if left and quota[c] < len(pools[c]):
                quota[c] += 1
                left -= 1
                progress = True
        if not progress:
            break
    mask = torch.zeros(n, dtype=torch.bool)
    for c in range(n_classes):
        mask[pools[c][: quota[c]]] = True
    return mask


def default_data_dir(name: str) -> Path:
    """$LATENT_EXPLORER_DATA/<name>, else ../shared/data/<name> if present, else the user cache."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser() / name
    shared = _REPO_ROOT.parent / "shared" / "data" / name
    if shared.is_dir():
        return shared
    return Path.home() / ".cache" / "latent-explorer" / name
