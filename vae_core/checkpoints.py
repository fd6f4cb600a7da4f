"""Checkpoints: weights as safetensors, config, run record and metadata as JSON. No pickle anywhere.

The format is described in docs/checkpoint-format.md. Since version 3 the config travels inside the
weights file's safetensors header, so one atomic rename makes weights and config visible together:
a crash, a full disk or two saves of one name at once can't pair new weights with an old config.
`config.json` beside it is a readable copy. Versions 1 and 2 (config only in `config.json`) still
load; version 1 files (before model families and run histories) are migrated: their model is a
gaussian VAE and their history is empty. A run that may be continued also has
`trainer_state.safetensors`: the optimiser's moments and the run's generator states, checked tensor
by tensor like the weights, and stamped with the hash of the weights it belongs to.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import re
import socket
import struct
import tempfile
from contextlib import contextmanager
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
FORMAT = "latent-explorer-checkpoint/3"
READABLE_FORMATS = ("latent-explorer-checkpoint/1", "latent-explorer-checkpoint/2", FORMAT)
EMBEDDED_CONFIG_KEY = "latent-explorer-config"  # safetensors header metadata: the config JSON
WEIGHTS_HASH_KEY = "weights-sha256"  # trainer state header metadata: the weights it belongs to
_TEMP_SUFFIX = ".tmp"
MAX_WEIGHTS_BYTES = 200 * 1024 * 1024
MAX_CONFIG_BYTES = 16 * 1024 * 1024  # a long history of per-dimension statistics
_WEIGHT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
WEIGHTS_DTYPE_KEY = "weights_dtype"  # config key: the dtype weights are stored in (float32 if absent)
STORED_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
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


def _temp_prefix(name: str) -> str:
    """Hidden, and naming the writing process, so that a leftover can be told from a live write."""
    return f".{name}.{socket.gethostname()}-{os.getpid()}-"


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path.name), suffix=_TEMP_SUFFIX)
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


@contextmanager
def _folder_lock(directory: Path):
    """One save at a time into a folder, across threads and processes (an flock on the folder)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _writer_gone(file_name: str, max_age_s: float, mtime: float, now: float) -> bool:
    """Whether the process named in a temporary file's name is gone (or the file is old)."""
    match = re.search(r"\.([^.]+)-(\d+)-[^.]*\.tmp$", file_name)
    if match is None or match.group(1) != socket.gethostname():
        return now - mtime > max_age_s
    try:
        os.kill(int(match.group(2)), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return now - mtime > max_age_s


def clean_leftovers(root: str | os.PathLike, max_age_s: float = 3600.0) -> list[Path]:
    """Remove temporary files that a killed save left in `root` and its checkpoint folders (never
    one that a live process is still writing). Returns what was removed."""
    import time

    root = Path(root)
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    now = time.time()
    folders = [root, *(p for p in root.iterdir() if p.is_dir() and not p.is_symlink())]
    for folder in folders:
        for p in folder.glob(f".*{_TEMP_SUFFIX}"):
            try:
                if p.is_file() and _writer_gone(p.name, max_age_s, p.stat().st_mtime, now):
                    p.unlink()
                    removed.append(p)
            except OSError:
                continue
    return removed


def checkpoint_bytes(model: LatentModel, metadata: dict[str, Any]) -> tuple[bytes, bytes]:
    """Serialise to (safetensors bytes carrying the config, config JSON bytes), floating-point
    weights in the metadata's `weights_dtype` (float32 by default); refuses non-finite weights,
    including those a narrower dtype would overflow."""
    dtype_name = metadata.get(WEIGHTS_DTYPE_KEY, "float32")
    if dtype_name not in STORED_DTYPES:
        raise CheckpointError(f"{WEIGHTS_DTYPE_KEY} must be one of {', '.join(STORED_DTYPES)}, got {dtype_name!r}")
    dtype = STORED_DTYPES[dtype_name]
    state = {k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous()
             for k, v in model.state_dict().items()}
    bad = [k for k, v in state.items() if not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"refusing to save non-finite weights in {', '.join(bad[:3])}"
                              + (f" (as {dtype_name})" if dtype_name != "float32" else ""))
    meta = {**metadata, "format": FORMAT, "model": model.config.to_dict()}
    config_bytes = json.dumps(meta, indent=2, sort_keys=True).encode()
    if len(config_bytes) > MAX_CONFIG_BYTES:
        raise CheckpointError(f"config is {len(config_bytes):,} bytes; the limit is {MAX_CONFIG_BYTES:,}")
    weights = save_safetensors_bytes(state, metadata={EMBEDDED_CONFIG_KEY: config_bytes.decode()})
    return weights, config_bytes


def save_checkpoint(
    directory: str | os.PathLike, model: LatentModel, metadata: dict[str, Any], state: TrainerState | None = None
) -> Path:
    """Write model.safetensors (weights and config together, atomically), then its trainer state
    (with `state`, so the run can be continued; an older state file is removed otherwise) and the
    readable config.json. Saves into one folder take turns."""
    meta = dict(metadata)
    if state is not None:
        meta["resume"] = {"epochs_done": state.epochs_done, "steps_done": state.steps_done,
                          "elapsed": round(state.elapsed, 3)}
    else:
        meta.pop("resume", None)
    weights, config_bytes = checkpoint_bytes(model, meta)
    state_bytes = trainer_state_bytes(state, weights) if state is not None else None
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with _folder_lock(directory):
        _atomic_write(directory / WEIGHTS_FILE, weights)
        if state_bytes is not None:
            _atomic_write(directory / STATE_FILE, state_bytes)
        else:
            (directory / STATE_FILE).unlink(missing_ok=True)
        _atomic_write(directory / CONFIG_FILE, config_bytes)
    return directory


CHECKPOINT_FILES = (WEIGHTS_FILE, STATE_FILE, CONFIG_FILE)  # in the order a save writes them


def checkpoint_files(directory: str | os.PathLike) -> dict[str, bytes]:
    """The files of the checkpoint in `directory`, to send elsewhere (e.g. from a cluster node)."""
    directory = Path(directory)
    return {n: (directory / n).read_bytes() for n in CHECKPOINT_FILES if (directory / n).is_file()}


def install_checkpoint(directory: str | os.PathLike, files: dict[str, bytes]) -> Path:
    """Write files from `checkpoint_files` into `directory` as `save_checkpoint` would: checked
    first (the weights must load), each atomically, in its order, one save at a time."""
    unknown = set(files) - set(CHECKPOINT_FILES)
    if unknown or WEIGHTS_FILE not in files:
        raise CheckpointError(f"not a checkpoint's files: {sorted(files)}")
    model_from_bytes(files[WEIGHTS_FILE], files.get(CONFIG_FILE))
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with _folder_lock(directory):
        for name in CHECKPOINT_FILES:
            if name in files:
                _atomic_write(directory / name, files[name])
            elif name == STATE_FILE:
                (directory / name).unlink(missing_ok=True)
    return directory


def update_metadata(directory: str | os.PathLike, extra: dict[str, Any]) -> dict[str, Any]:
    """Merge `extra` into a checkpoint's config (atomically, with the same weights; a trainer state
    that belonged to the old weights file is stamped for the new one)."""
    directory = Path(directory)
    with _folder_lock(directory):
        old_weights = (directory / WEIGHTS_FILE).read_bytes() if (directory / WEIGHTS_FILE).is_file() else b""
        checkpoint = load_checkpoint(directory)
        weights, config_bytes = checkpoint_bytes(checkpoint.model, {**checkpoint.metadata, **extra})
        _atomic_write(directory / WEIGHTS_FILE, weights)
        state_path = directory / STATE_FILE
        if state_path.is_file():
            _restamp_state(state_path, old_weights, weights)
        _atomic_write(directory / CONFIG_FILE, config_bytes)
    return parse_metadata(config_bytes)


def compact_checkpoint(source: str | os.PathLike, destination: str | os.PathLike,
                       dtype: str = "float16") -> Path:
    """A copy for shipping: the weights stored in `dtype` (half the bytes in float16), the config and
    history kept, the optimiser state left out (the copy can be trained further, from a fresh
    optimiser). Later saves of the copy (e.g. metrics recorded into it) keep the dtype."""
    if Path(source).resolve() == Path(destination).resolve():
        raise CheckpointError("the compact copy must go to another folder than its source")
    checkpoint = load_checkpoint(source)
    return save_checkpoint(destination, checkpoint.model, {**checkpoint.metadata, WEIGHTS_DTYPE_KEY: dtype})


def _restamp_state(state_path: Path, old_weights: bytes, new_weights: bytes) -> None:
    data = state_path.read_bytes()
    if (header_metadata(data) or {}).get(WEIGHTS_HASH_KEY) not in (None, weights_hash(old_weights)):
        return  # it already belonged to other weights: leave it refused
    try:
        tensors = load_safetensors_bytes(data)
    except (SafetensorError, ValueError, RuntimeError):
        return  # unreadable: load_trainer_state will say so
    _atomic_write(state_path, save_safetensors_bytes(tensors, metadata={WEIGHTS_HASH_KEY: weights_hash(new_weights)}))


# --- trainer state: optimiser moments and generator states, as tensors -----------------------


def weights_hash(weights: bytes) -> str:
    return hashlib.sha256(weights).hexdigest()


def trainer_state_bytes(state: TrainerState, weights: bytes) -> bytes:
    """The state as safetensors, stamped with the hash of the weights file it continues."""
    tensors: dict[str, torch.Tensor] = {
        "generator.noise": state.noise_generator, "generator.batches": state.batch_generator,
    }
    for index, slots in (state.optimizer or {}).get("state", {}).items():
        for slot, value in slots.items():
            tensors[f"optimizer.{index}.{slot}"] = torch.as_tensor(value).detach().to("cpu").contiguous()
    for key, value in (state.auxiliary or {}).items():
        tensors[f"auxiliary.{key}"] = value.detach().to("cpu").contiguous()
    return save_safetensors_bytes(tensors, metadata={WEIGHTS_HASH_KEY: weights_hash(weights)})


def load_trainer_state(
    directory: str | os.PathLike, model: LatentModel, auxiliary: torch.nn.Module | None = None
) -> TrainerState:
    """The saved state of a run in `directory`, checked against `model`'s parameters (and those of
    the objective's `auxiliary` module, e.g. FactorVAE's discriminator, optimised after them)."""
    directory = Path(directory)
    path = directory / STATE_FILE
    meta = read_metadata(directory)
    resume = meta.get("resume")
    if not path.is_file() or not isinstance(resume, dict):
        raise CheckpointError(f"{directory} holds no trainer state: it was saved without one, so it can't be "
                              "continued (train it again, or continue a run saved by this version)")
    if path.stat().st_size > MAX_WEIGHTS_BYTES * 3:
        raise CheckpointError(f"{path} is too large")
    state_bytes = path.read_bytes()
    try:
        tensors = load_safetensors_bytes(state_bytes)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{STATE_FILE} is not a valid safetensors file: {exc}") from None
    stamp = (header_metadata(state_bytes) or {}).get(WEIGHTS_HASH_KEY)
    if stamp is not None and stamp != weights_hash((directory / WEIGHTS_FILE).read_bytes()):
        raise CheckpointError(f"{STATE_FILE} belongs to other weights than {WEIGHTS_FILE} (a save was "
                              "interrupted): the model loads, but this run can't be continued")
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
        raise CheckpointError(f"{STATE_FILE}: the objective's state (FactorVAE's discriminator, β-TCVAE's "
                              "posterior memory) is missing or incomplete")
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


def _header_length(first8: bytes, total_size: int) -> int | None:
    """The length of a safetensors file's JSON header from its first 8 bytes, or None if implausible."""
    if len(first8) < 8:
        return None
    (n,) = struct.unpack("<Q", first8[:8])
    return n if n <= MAX_CONFIG_BYTES * 2 and 8 + n <= total_size else None


def header_metadata(data: bytes) -> dict[str, str] | None:
    """The `__metadata__` of a safetensors file held in `data` (None if it has none or isn't one)."""
    n = _header_length(data[:8], len(data))
    if n is None:
        return None
    try:
        meta = json.loads(data[8 : 8 + n]).get("__metadata__")
    except (UnicodeDecodeError, ValueError, AttributeError, RecursionError):
        return None
    return meta if isinstance(meta, dict) else None


def _file_header_metadata(path: Path) -> dict[str, str] | None:
    """`header_metadata` of a file, reading only its header."""
    with open(path, "rb") as f:
        head = f.read(8)
        n = _header_length(head, os.fstat(f.fileno()).st_size)
        return None if n is None else header_metadata(head + f.read(n))


def embedded_config(weights: bytes) -> bytes | None:
    """The config JSON a version-3 weights file carries (None for older files)."""
    value = (header_metadata(weights) or {}).get(EMBEDDED_CONFIG_KEY)
    return value.encode() if isinstance(value, str) else None


def read_metadata(directory: str | os.PathLike) -> dict[str, Any]:
    """A checkpoint folder's config, checked: the one inside the weights file when it carries one,
    else config.json. Reads only the weights file's header."""
    directory = Path(directory)
    weights_path = directory / WEIGHTS_FILE
    try:
        embedded = _file_header_metadata(weights_path) if weights_path.is_file() else None
        value = (embedded or {}).get(EMBEDDED_CONFIG_KEY)
        if isinstance(value, str):
            return parse_metadata(value.encode())
        return parse_metadata((directory / CONFIG_FILE).read_bytes())
    except OSError as exc:
        raise CheckpointError(f"cannot read the checkpoint in {directory.name}: {exc.strerror or exc}") from None


def parse_metadata(config_bytes: bytes) -> dict[str, Any]:
    """Read and check config.json; anything malformed is a CheckpointError naming the field."""
    if not config_bytes:
        raise CheckpointError("the config file is empty (0 bytes)")
    if len(config_bytes) > MAX_CONFIG_BYTES:
        raise CheckpointError(f"config JSON is {len(config_bytes):,} bytes; the limit is {MAX_CONFIG_BYTES:,}")
    try:
        meta = json.loads(config_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise CheckpointError(f"config is not valid JSON: {str(exc)[:200]}") from None
    return _check_metadata(meta)


def model_from_bytes(weights: bytes, config_bytes: bytes | None = None) -> Checkpoint:
    """Validate config, tensor names, shapes and values, then build a fresh model. The config the
    weights carry (format 3) is the one used; older weights need `config_bytes`."""
    if len(weights) == 0:
        raise CheckpointError("the weights file is empty (0 bytes)")
    inside = embedded_config(weights)
    if inside is not None and config_bytes is not None and inside != config_bytes:
        given_model = parse_metadata(config_bytes)["model"]
        if ModelConfig.from_dict(given_model) != ModelConfig.from_dict(parse_metadata(inside)["model"]):
            raise CheckpointError("the config file describes another model than the one the weights file carries; "
                                  "the weights file alone is enough (it holds its config)")
    config_bytes = inside or config_bytes
    if config_bytes is None:
        raise CheckpointError("these weights carry no config (a file saved before checkpoint format 3): "
                              f"give its {CONFIG_FILE} too")
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
    if not weights_path.is_file():
        raise CheckpointError(f"{weights_path} not found: a checkpoint folder holds {WEIGHTS_FILE} and {CONFIG_FILE}")
    if weights_path.stat().st_size > MAX_WEIGHTS_BYTES:
        raise CheckpointError(f"{weights_path} is larger than {MAX_WEIGHTS_BYTES:,} bytes")
    weights = weights_path.read_bytes()
    if embedded_config(weights) is not None:
        return model_from_bytes(weights)
    if not config_path.is_file():
        raise CheckpointError(f"{config_path} not found: a checkpoint folder holds {WEIGHTS_FILE} and {CONFIG_FILE}")
    if config_path.stat().st_size > MAX_CONFIG_BYTES:
        raise CheckpointError(f"{config_path} is larger than {MAX_CONFIG_BYTES:,} bytes")
    return model_from_bytes(weights, config_path.read_bytes())


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


_INFO_CACHE: dict[tuple, CheckpointInfo | None] = {}  # (folder, weights' and copy's mtime and size) -> info
_INFO_CACHE_MAX = 4096


def _file_key(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (-1, -1)
    return (st.st_mtime_ns, st.st_size)


def list_checkpoints(root: str | os.PathLike) -> list[CheckpointInfo]:
    """Checkpoint folders under `root` whose config reads; others are skipped. A folder's config is
    read and checked once per version of its files (pages list them on every rerun)."""
    root = Path(root)
    found = []
    if not root.is_dir():
        return found
    for sub in sorted(root.iterdir()):
        if sub.name.startswith(".") or not (sub / WEIGHTS_FILE).is_file():
            continue
        key = (str(sub), _file_key(sub / WEIGHTS_FILE), _file_key(sub / CONFIG_FILE))
        if key not in _INFO_CACHE:
            try:
                info = CheckpointInfo(sub.name, sub, read_metadata(sub))
            except (CheckpointError, OSError):
                info = None
            if len(_INFO_CACHE) >= _INFO_CACHE_MAX:
                _INFO_CACHE.clear()
            _INFO_CACHE[key] = info
        if _INFO_CACHE[key] is not None:
            found.append(_INFO_CACHE[key])
    return found


def is_finite_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)
