"""A dataset written to one safetensors file (8-bit pixels, labels, split, names as JSON metadata),
so that uploads survive a server restart and a worker process can read them. No pickle."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .base import Dataset, DatasetError

MAX_SAVED_BYTES = 2 * 1024**3


def save_dataset(data: Dataset, path: str | os.PathLike) -> Path:
    """Images are stored as uint8 (uploads and the bundled sets are 8-bit or binary already)."""
    path = Path(path)
    tensors = {
        "images": (data.images * 255).round().clamp(0, 255).to(torch.uint8).contiguous(),
        "labels": data.labels.to(torch.int64).contiguous(),
        "train_index": data.train_index.to(torch.int64).contiguous(),
        "test_index": data.test_index.to(torch.int64).contiguous(),
    }
    if data.factors is not None:
        tensors["factors"] = data.factors.float().contiguous()
    if data.factor_classes is not None:
        tensors["factor_classes"] = data.factor_classes.to(torch.int64).contiguous()
    meta = {"name": data.name, "label_names": list(data.label_names), "factor_names": list(data.factor_names),
            "params": data.params}
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata={"dataset": json.dumps(meta)})
    os.replace(tmp, path)
    return path


def load_saved_dataset(path: str | os.PathLike) -> Dataset:
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"saved dataset {path.name} not found")
    if path.stat().st_size > MAX_SAVED_BYTES:
        raise DatasetError(f"saved dataset {path.name} is larger than {MAX_SAVED_BYTES:,} bytes")
    try:
        tensors = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            meta = json.loads((f.metadata() or {})["dataset"])
    except (SafetensorError, OSError, KeyError, ValueError) as exc:
        raise DatasetError(f"saved dataset {path.name} can't be read: {exc}") from None
    images, labels = tensors.get("images"), tensors.get("labels")
    n = 0 if images is None else images.shape[0]
    if images is None or images.dtype != torch.uint8 or images.ndim != 4 or labels is None or labels.shape != (n,):
        raise DatasetError(f"saved dataset {path.name} does not hold images (N, C, H, W) and N labels")
    for key in ("train_index", "test_index"):
        idx = tensors.get(key)
        if idx is None or idx.ndim != 1 or (len(idx) and (idx.min() < 0 or idx.max() >= n)):
            raise DatasetError(f"saved dataset {path.name}: {key} is missing or out of range")
    names = meta.get("label_names")
    if not isinstance(names, list) or not all(isinstance(s, str) for s in names):
        raise DatasetError(f"saved dataset {path.name}: label names are malformed")
    if n and (labels.min() < 0 or labels.max() >= max(len(names), 1)):
        raise DatasetError(f"saved dataset {path.name}: labels out of range")
    return Dataset(
        name=str(meta.get("name", "images")), images=images.float() / 255.0, labels=labels,
        label_names=tuple(names), train_index=tensors["train_index"], test_index=tensors["test_index"],
        factors=tensors.get("factors"), factor_classes=tensors.get("factor_classes"),
        factor_names=tuple(meta.get("factor_names") or ()), params=dict(meta.get("params") or {}),
    )
