"""Frozen, validated configs: one per concern, saved as JSON beside the weights."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

ARCHITECTURES = ("mlp", "conv")
MAX_LATENT_DIM = 64
PRECISIONS = ("fp32", "bf16")
MAX_BATCH_SIZE = 4096  # a conv batch of 4096 64x64 images already needs ~1 GB per activation


class ConfigError(ValueError):
    """A config value is out of range; the message names the field."""


def _from_dict(cls, data: dict[str, Any]):
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__} must be a JSON object, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown field(s) {', '.join(unknown)}")
    try:
        return cls(**data)
    except TypeError as exc:  # missing required field
        raise ConfigError(f"{cls.__name__}: {exc}") from None


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a VAE's architecture."""

    image_shape: tuple[int, int, int]  # (C, H, W)
    latent_dim: int = 2
    arch: str = "mlp"
    hidden: int = 400  # MLP width, or the dense layer after the conv stack

    def __post_init__(self) -> None:
        shape = tuple(self.image_shape) if isinstance(self.image_shape, (list, tuple)) else ()
        if len(shape) != 3 or not all(isinstance(s, int) and not isinstance(s, bool) for s in shape):
            raise ConfigError(f"image_shape must be three integers (C, H, W), got {self.image_shape!r}")
        c, h, w = shape
        if c not in (1, 3):
            raise ConfigError(f"image_shape channels must be 1 or 3, got {c}")
        if not (4 <= h <= 256 and 4 <= w <= 256):
            raise ConfigError(f"image height and width must be in 4..256, got {h}x{w}")
        object.__setattr__(self, "image_shape", shape)
        if self.arch not in ARCHITECTURES:
            raise ConfigError(f"arch must be one of {', '.join(ARCHITECTURES)}, got {self.arch!r}")
        _check_int("latent_dim", self.latent_dim, 1, MAX_LATENT_DIM)
        _check_int("hidden", self.hidden, 8, 4096)
        if self.arch == "conv" and (h % 4 or w % 4):
            raise ConfigError(f"the conv architecture needs height and width divisible by 4, got {h}x{w}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["image_shape"] = list(self.image_shape)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        return _from_dict(cls, data)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run; validated here, not only by widgets."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    beta: float = 1.0
    warmup_epochs: int = 0  # beta ramps linearly from 0 over these epochs
    seed: int = 0
    precision: str = "fp32"  # "bf16": forward pass in bfloat16 (loss and weights stay float32)

    def __post_init__(self) -> None:
        _check_int("epochs", self.epochs, 1, 10_000)
        _check_int("batch_size", self.batch_size, 1, MAX_BATCH_SIZE)
        _check_int("warmup_epochs", self.warmup_epochs, 0, 10_000)
        _check_int("seed", self.seed, 0, 2**32 - 1)
        _check_float("lr", self.lr, 1e-7, 1.0)
        _check_float("beta", self.beta, 0.0, 1000.0)
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")

    def beta_at(self, epoch_progress: float) -> float:
        """β after `epoch_progress` epochs (fractional), with the linear warm-up."""
        if self.warmup_epochs == 0:
            return self.beta
        return self.beta * min(1.0, epoch_progress / self.warmup_epochs)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return _from_dict(cls, data)


def _check_int(name: str, value: Any, lo: int, hi: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ConfigError(f"{name} must be an integer in {lo}..{hi}, got {value!r}")


def _check_float(name: str, value: Any, lo: float, hi: float) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not (lo <= float(value) <= hi):  # also rejects NaN
        raise ConfigError(f"{name} must be a number in [{lo:g}, {hi:g}], got {value!r}")
