"""Checkpoints: weights as safetensors, config, run record and metadata as JSON. No pickle anywhere.

The format is described in docs/checkpoint-format.md. Version 1 files (before model families and
run histories) are migrated on load: their model is a gaussian VAE and their history is empty.
A run that may be continued also has `trainer_state.safetensors`: the optimiser's moments and the
run's generator states, checked tensor by tensor like the weights.
"""

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
from .models import LatentModel, build_model, expected_shapes
from .training.record import EpochRecord, RecordError, history_from_json
from .training.trainer import TrainerState

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
STATE_FILE = "trainer_state.safetensors"
FORMAT = "latent-explorer-checkpoint/2"
READABLE_FORMATS = ("latent-explorer-checkpoint/1", FORMAT)
MAX_WEIGHTS_BYTES = 200 * 1024 * 1024
MAX_CONFIG_BYTES = 16 * 1024 * 1024  # a long history of per-dimension statistics
_WEIGHT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_INDEX_DTYPES = (torch.int64, torch.int32)  # counters a family keeps in its buffers
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class CheckpointError(ValueError):
    """A checkpoint is missing, malformed or does not fit its config; the message says which."""


@dataclass(frozen=True)
class Checkpoint:
    model: LatentModel  # a fresh model in eval mode
    metadata: dict[str, Any] = field(default_factory=dict)  # the whole config.json

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    @property
    def family(self) -> str:
        return self.model.family

    @property
    def history(self) -> list[EpochRecord]:
        """Per-epoch record of the run that made this model (empty for files that predate it)."""
        return history_from_json(self.metadata.get("history", []))

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
    history: list[EpochRecord] | None = None,
    run: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "name": name,
        "model": model_config.to_dict(),
        "dataset": {"name": dataset, "params": dataset_params or {}},
        "training": training or {},
        "metrics": metrics or {},
        "history": [e.to_dict() for e in history or []],
        "run": run or {},
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


def checkpoint_bytes(model: LatentModel, metadata: dict[str, Any]) -> tuple[bytes, bytes]:
    """Serialise to (safetensors bytes, JSON bytes); refuses non-finite weights."""
    state = {k: v.detach().to("cpu", torch.float32 if v.is_floating_point() else v.dtype).contiguous()
             for k, v in model.state_dict().items()}
    bad = [k for k, v in state.items() if not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"refusing to save non-finite weights in {', '.join(bad[:3])}")
    meta = {**metadata, "format": FORMAT, "model": model.config.to_dict()}
    config_bytes = json.dumps(meta, indent=2, sort_keys=True).encode()
    return save_safetensors_bytes(state), config_bytes


def save_checkpoint(
    directory: str | os.PathLike, model: LatentModel, metadata: dict[str, Any], state: TrainerState | None = None
) -> Path:
    """Write model.safetensors and config.json into `directory`, each atomically; with `state`, also
    trainer_state.safetensors so the run can be continued (an older state file is removed otherwise)."""
    meta = dict(metadata)
    if state is not None:
        meta["resume"] = {"epochs_done": state.epochs_done, "steps_done": state.steps_done,
                          "elapsed": round(state.elapsed, 3)}
    else:
        meta.pop("resume", None)
    weights, config_bytes = checkpoint_bytes(model, meta)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if state is not None:
        _atomic_write(directory / STATE_FILE, trainer_state_bytes(state))
    else:
        (directory / STATE_FILE).unlink(missing_ok=True)
    _atomic_write(directory / WEIGHTS_FILE, weights)
    _atomic_write(directory / CONFIG_FILE, config_bytes)
    return directory


def update_metadata(directory: str | os.PathLike, extra: dict[str, Any]) -> dict[str, Any]:
    """Merge `extra` into a checkpoint's config.json (atomically; the weights are untouched)."""
    path = Path(directory) / CONFIG_FILE
    try:
        meta = parse_metadata(path.read_bytes())
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc}") from None
    meta = {**meta, **extra}
    _atomic_write(path, json.dumps(meta, indent=2, sort_keys=True).encode())
    return meta


# --- trainer state: optimiser moments and generator states, as tensors -----------------------


def trainer_state_bytes(state: TrainerState) -> bytes:
    tensors: dict[str, torch.Tensor] = {
        "generator.noise": state.noise_generator, "generator.batches": state.batch_generator,
    }
    for index, slots in (state.optimizer or {}).get("state", {}).items():
        for slot, value in slots.items():
            tensors[f"optimizer.{index}.{slot}"] = torch.as_tensor(value).detach().to("cpu").contiguous()
    for key, value in (state.auxiliary or {}).items():
        tensors[f"auxiliary.{key}"] = value.detach().to("cpu").contiguous()
    return save_safetensors_bytes(tensors)


def load_trainer_state(
    directory: str | os.PathLike, model: LatentModel, auxiliary: torch.nn.Module | None = None
) -> TrainerState:
    """The saved state of a run in `directory`, checked against `model`'s parameters (and those of
    the objective's `auxiliary` module, e.g. FactorVAE's discriminator, optimised after them)."""
    directory = Path(directory)
    path = directory / STATE_FILE
    meta = parse_metadata((directory / CONFIG_FILE).read_bytes())
    resume = meta.get("resume")
    if not path.is_file() or not isinstance(resume, dict):
        raise CheckpointError(f"{directory} holds no trainer state: it was saved without one, so it can't be "
                              "continued (train it again, or continue a run saved by this version)")
    if path.stat().st_size > MAX_WEIGHTS_BYTES * 3:
        raise CheckpointError(f"{path} is too large")
    try:
        tensors = load_safetensors_bytes(path.read_bytes())
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{STATE_FILE} is not a valid safetensors file: {exc}") from None
    params = list(model.parameters()) + (list(auxiliary.parameters()) if auxiliary is not None else [])
    expected_aux = {k: tuple(v.shape) for k, v in auxiliary.state_dict().items()} if auxiliary is not None else {}
    aux_state: dict[str, torch.Tensor] = {}
    slots: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("generator."):
            continue
        if key.startswith("auxiliary."):
            name = key.removeprefix("auxiliary.")
            if expected_aux.get(name) != tuple(value.shape) or not torch.isfinite(value.float()).all():
                raise CheckpointError(f"{STATE_FILE}: unexpected or non-finite tensor {key!r}")
            aux_state[name] = value
            continue
        parts = key.split(".")
        if len(parts) != 3 or parts[0] != "optimizer" or not parts[1].isdigit() or int(parts[1]) >= len(params):
            raise CheckpointError(f"{STATE_FILE}: unexpected tensor {key!r}")
        index, slot = int(parts[1]), parts[2]
        if slot in ("exp_avg", "exp_avg_sq") and tuple(value.shape) != tuple(params[index].shape):
            raise CheckpointError(f"{STATE_FILE}: {key} has shape {tuple(value.shape)}, "
                                  f"expected {tuple(params[index].shape)}")
        if not torch.isfinite(value.float()).all():
            raise CheckpointError(f"{STATE_FILE}: {key} holds non-finite values")
        slots.setdefault(index, {})[slot] = value
    for name in ("generator.noise", "generator.batches"):
        if name not in tensors or tensors[name].dtype != torch.uint8:
            raise CheckpointError(f"{STATE_FILE}: {name} is missing or not a generator state")
    counters = {}
    for key in ("epochs_done", "steps_done"):
        v = resume.get(key)
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise CheckpointError(f"config 'resume.{key}' must be a non-negative integer")
        counters[key] = v
    elapsed = resume.get("elapsed", 0.0)
    if not is_finite_number(elapsed):
        raise CheckpointError("config 'resume.elapsed' must be a number")
    if set(aux_state) != set(expected_aux):
        raise CheckpointError(f"{STATE_FILE}: the objective's discriminator state is missing or incomplete")
    return TrainerState(
        optimizer={"state": slots, "param_groups": None}, auxiliary=aux_state or None,
        noise_generator=tensors["generator.noise"],
        batch_generator=tensors["generator.batches"], elapsed=float(elapsed), **counters,
    )


_METRIC_NUMBERS = ("test_loss", "test_recon", "test_kl", "epochs", "seconds", "train_samples_per_s")


def _check_metadata(meta: Any) -> dict[str, Any]:
    """The structure the app reads: every field it formats or passes on has the right type."""
    if not isinstance(meta, dict) or not isinstance(meta.get("model"), dict):
        raise CheckpointError("config JSON must be an object with a 'model' object")
    fmt = meta.get("format", READABLE_FORMATS[0])
    if fmt not in READABLE_FORMATS:
        raise CheckpointError(f"unknown checkpoint format {fmt!r}; this version reads {', '.join(READABLE_FORMATS)}")
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
            TrainConfig.from_dict({"family": meta["model"].get("family", "gaussian"), **training})
        except ConfigError as exc:
            raise CheckpointError(f"invalid training settings: {exc}") from None
    metrics = meta.get("metrics", {})
    if not isinstance(metrics, dict):
        raise CheckpointError("config 'metrics' must be an object")
    for key in _METRIC_NUMBERS:
        v = metrics.get(key)
        if v is not None and (isinstance(v, bool) or not is_finite_number(v)):
            raise CheckpointError(f"config 'metrics.{key}' must be a finite number, got {v!r}")
    try:
        history_from_json(meta.get("history", []))
    except RecordError as exc:
        raise CheckpointError(f"invalid history: {exc}") from None
    if not isinstance(meta.get("run", {}), dict):
        raise CheckpointError("config 'run' must be an object")
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
            f"weights do not match a {config.family} {config.arch if config.family != 'vq' else ''} model "
            f"with latent_dim={config.latent_dim}: " + "; ".join(parts)
        )
    for key, shape in expected.items():
        t = state[key]
        if tuple(t.shape) != shape:
            raise CheckpointError(
                f"weights do not match the config: {key} has shape {tuple(t.shape)}, expected {shape} "
                f"(a checkpoint for another architecture?)"
            )
        if t.dtype not in _WEIGHT_DTYPES + _INDEX_DTYPES:
            raise CheckpointError(f"{key} has dtype {t.dtype}; expected float16, bfloat16, float32 or float64")
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise CheckpointError(f"{key} holds non-finite values")
    model = build_model(config)
    model.load_state_dict({k: v.to(model.state_dict()[k].dtype) for k, v in state.items()}, strict=True)
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
        training = self.metadata.get("training") or {}
        family = m.get("family", "gaussian")
        if family == "vq":
            return f"{ds} · VQ-VAE · K={m.get('codebook_size', '?')} × {m.get('latent_dim', '?')}D"
        if family == "m2":
            labels = training.get("labels", 0)
            return f"{ds} · M2 · {labels or 'all'} labels · style {m.get('latent_dim', '?')}D"
        if family == "ae":
            return f"{ds} · autoencoder · {m.get('arch', '?')} · {m.get('latent_dim', '?')}D"
        return f"{ds} · {m.get('arch', '?')} · {m.get('latent_dim', '?')}D · β={training.get('beta', 1.0):g}"

    @property
    def family(self) -> str:
        return self.metadata["model"].get("family", "gaussian")


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
