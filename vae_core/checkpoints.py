"""Checkpoints: weights as safetensors, config and metadata as JSON. No pickle anywhere."""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from .config import ConfigError, ModelConfig, TrainConfig
from .models import VAE, expected_shapes

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
FORMAT = "latent-explorer-checkpoint/1"
MAX_WEIGHTS_BYTES = 200 * 1024 * 1024
MAX_CONFIG_BYTES = 1024 * 1024
_WEIGHT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class CheckpointError(ValueError):
    """A checkpoint is missing, malformed or does not fit its config; the message says which."""


@dataclass(frozen=True)
class Checkpoint:
    model: VAE  # a fresh model in eval mode
    metadata: dict[str, Any] = field(default_factory=dict)  # the whole config.json

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    @property
    def dataset_name(self) -> str | None:
        return (self.metadata.get("dataset") or {}).get("name")

    @property
    def dataset_params(self) -> dict[str, Any]:
        return dict((self.metadata.get("dataset") or {}).get("params") or {})


def check_name(name: str) -> str:
    """A checkpoint name safe to use as one folder name (no separators, no '..')."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or ".." in name:
        raise CheckpointError(
            "checkpoint names use letters, digits, '-', '_' and '.', start with a letter or digit, "
            f"and are at most 64 characters; got {name!r}"
        )
    return name


def make_metadata(
    model_config: ModelConfig,
    *,
    dataset: str,
    dataset_params: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "name": name,
        "model": model_config.to_dict(),
        "dataset": {"name": dataset, "params": dataset_params or {}},
        "training": training or {},
        "metrics": metrics or {},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide shipped checkpoints from other users
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def checkpoint_bytes(model: VAE, metadata: dict[str, Any]) -> tuple[bytes, bytes]:
    """Serialise to (safetensors bytes, JSON bytes); refuses non-finite weights."""
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    bad = [k for k, v in state.items() if not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"refusing to save non-finite weights in {', '.join(bad[:3])}")
    meta = {**metadata, "format": FORMAT, "model": model.config.to_dict()}
    config_bytes = json.dumps(meta, indent=2, sort_keys=True).encode()
    return save_safetensors_bytes(state), config_bytes


def save_checkpoint(directory: str | os.PathLike, model: VAE, metadata: dict[str, Any]) -> Path:
    """Write model.safetensors and config.json into `directory`, each atomically."""
    weights, config_bytes = checkpoint_bytes(model, metadata)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _atomic_write(directory / WEIGHTS_FILE, weights)
    _atomic_write(directory / CONFIG_FILE, config_bytes)
    return directory


_METRIC_NUMBERS = ("test_loss", "test_recon", "test_kl", "epochs", "seconds", "train_samples_per_s")


def _check_metadata(meta: Any) -> dict[str, Any]:
    """The structure the app reads: every field it formats or passes on has the right type."""
    if not isinstance(meta, dict) or not isinstance(meta.get("model"), dict):
        raise CheckpointError("config JSON must be an object with a 'model' object")
    if meta.get("name") is not None and not isinstance(meta["name"], str):
        raise CheckpointError("config 'name' must be a string")
    dataset = meta.get("dataset", {})
    if not isinstance(dataset, dict) or not isinstance(dataset.get("name", ""), str):
        raise CheckpointError("config 'dataset' must be an object with a string 'name'")
    params = dataset.get("params", {})
    scalar = (str, int, float, bool, type(None))
    if not isinstance(params, dict) or not all(isinstance(v, scalar) for v in params.values()):
        raise CheckpointError("config 'dataset.params' must be an object of plain values")
    training = meta.get("training", {})
    if not isinstance(training, dict):
        raise CheckpointError("config 'training' must be an object")
    if training:
        try:
            TrainConfig.from_dict(training)
        except ConfigError as exc:
            raise CheckpointError(f"invalid training settings: {exc}") from None
    metrics = meta.get("metrics", {})
    if not isinstance(metrics, dict):
        raise CheckpointError("config 'metrics' must be an object")
    for key in _METRIC_NUMBERS:
        v = metrics.get(key)
        if v is not None and (isinstance(v, bool) or not is_finite_number(v)):
            raise CheckpointError(f"config 'metrics.{key}' must be a finite number, got {v!r}")
    return meta


def parse_metadata(config_bytes: bytes) -> dict[str, Any]:
    """Read and check config.json; anything malformed is a CheckpointError naming the field."""
    if len(config_bytes) > MAX_CONFIG_BYTES:
        raise CheckpointError(f"config JSON is {len(config_bytes):,} bytes; the limit is {MAX_CONFIG_BYTES:,}")
    try:
        meta = json.loads(config_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise CheckpointError(f"config is not valid JSON: {str(exc)[:200]}") from None
    return _check_metadata(meta)


def model_from_bytes(weights: bytes, config_bytes: bytes) -> Checkpoint:
    """Validate config, tensor names, shapes and values, then build a fresh model."""
    meta = parse_metadata(config_bytes)
    try:
        config = ModelConfig.from_dict(meta["model"])
    except ConfigError as exc:
        raise CheckpointError(f"invalid model config: {exc}") from None
    if len(weights) > MAX_WEIGHTS_BYTES:
        raise CheckpointError(f"weights file is {len(weights):,} bytes; the limit is {MAX_WEIGHTS_BYTES:,}")
    try:
        state = load_safetensors_bytes(weights)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"weights are not a valid safetensors file: {exc}") from None
    expected = expected_shapes(config)
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:4])}")
        if extra:
            parts.append(f"unexpected {', '.join(extra[:4])}")
        raise CheckpointError(
            f"weights do not match a {config.arch} model with latent_dim={config.latent_dim}: " + "; ".join(parts)
        )
    for key, shape in expected.items():
        t = state[key]
        if tuple(t.shape) != shape:
            raise CheckpointError(
                f"weights do not match the config: {key} has shape {tuple(t.shape)}, expected {shape} "
                f"(a checkpoint for another architecture?)"
            )
        if t.dtype not in _WEIGHT_DTYPES:
            raise CheckpointError(f"{key} has dtype {t.dtype}; expected float16, bfloat16, float32 or float64")
        if not torch.isfinite(t).all():
            raise CheckpointError(f"{key} holds non-finite values")
    model = VAE(config)
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    model.eval()
    return Checkpoint(model=model, metadata=meta)


def load_checkpoint(directory: str | os.PathLike) -> Checkpoint:
    directory = Path(directory)
    weights_path, config_path = directory / WEIGHTS_FILE, directory / CONFIG_FILE
    for p in (weights_path, config_path):
        if not p.is_file():
            raise CheckpointError(f"{p} not found: a checkpoint folder holds {WEIGHTS_FILE} and {CONFIG_FILE}")
    if weights_path.stat().st_size > MAX_WEIGHTS_BYTES:
        raise CheckpointError(f"{weights_path} is larger than {MAX_WEIGHTS_BYTES:,} bytes")
    if config_path.stat().st_size > MAX_CONFIG_BYTES:
        raise CheckpointError(f"{config_path} is larger than {MAX_CONFIG_BYTES:,} bytes")
    return model_from_bytes(weights_path.read_bytes(), config_path.read_bytes())


@dataclass(frozen=True)
class CheckpointInfo:
    name: str
    path: Path
    metadata: dict[str, Any]

    def summary(self) -> str:
        m = self.metadata["model"]  # checked by parse_metadata
        ds = (self.metadata.get("dataset") or {}).get("name") or "?"
        beta = (self.metadata.get("training") or {}).get("beta", 1.0)
        return f"{ds} · {m.get('arch', '?')} · {m.get('latent_dim', '?')}D · β={beta:g}"


def list_checkpoints(root: str | os.PathLike) -> list[CheckpointInfo]:
    """Checkpoint folders under `root` whose JSON reads; others are skipped."""
    root = Path(root)
    found = []
    if not root.is_dir():
        return found
    for sub in sorted(root.iterdir()):
        if not (sub / WEIGHTS_FILE).is_file() or not (sub / CONFIG_FILE).is_file():
            continue
        try:
            meta = parse_metadata((sub / CONFIG_FILE).read_bytes())
        except (CheckpointError, OSError):
            continue
        found.append(CheckpointInfo(sub.name, sub, meta))
    return found


def is_finite_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)
