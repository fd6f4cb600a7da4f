"""The typed record of a run: configs, a per-epoch history of every term, final metrics, timings.

It is what the CLI prints and what a checkpoint's JSON keeps (`history`, `metrics`, `run`), so
anyone can see, after the fact, when a dimension collapsed or the accuracy stopped rising.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

RUN_STATUSES = ("done", "stopped", "failed")
MAX_HISTORY = 10_000  # epochs kept in a checkpoint's JSON (the config caps epochs at 10,000)


class RecordError(ValueError):
    """A run record read from JSON is malformed; the message names the field."""


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _clean(value: Any, where: str) -> Any:
    """JSON numbers, or lists of them (None stands for a missing value)."""
    if value is None or _number(value):
        return value
    if isinstance(value, list) and len(value) <= 4096 and all(v is None or _number(v) for v in value):
        return value
    raise RecordError(f"{where} must be a finite number or a list of them, got {str(value)[:60]!r}")


def _metrics(d: Any, where: str) -> dict[str, Any]:
    if not isinstance(d, dict) or len(d) > 64:
        raise RecordError(f"{where} must be an object of at most 64 metrics")
    for k in d:
        if not isinstance(k, str) or len(k) > 64:
            raise RecordError(f"{where} keys must be short strings")
    return {k: _clean(v, f"{where}.{k}") for k, v in d.items()}


@dataclass(frozen=True)
class EpochRecord:
    """One epoch: train means of each named term, train vectors (e.g. KL per dimension), test metrics."""

    epoch: int  # 1-based, counted over the whole run (a continued run goes on counting)
    train: dict[str, float]
    train_vectors: dict[str, list[float]] = field(default_factory=dict)
    test: dict[str, Any] = field(default_factory=dict)  # test_* metrics of the model after this epoch
    beta: float | None = None  # the KL weight at the end of the epoch, for families that have one
    elapsed: float = 0.0  # seconds since the run (first) started, training and evaluation
    samples_per_s: float = 0.0

    # Names the pages of a Gaussian VAE read.
    @property
    def train_loss(self) -> float | None:
        return self.train.get("loss")

    @property
    def train_recon(self) -> float | None:
        return self.train.get("recon")

    @property
    def train_kl(self) -> float | None:
        return self.train.get("kl")

    @property
    def kl_per_dim(self) -> list[float]:
        return self.train_vectors.get("kl_per_dim", [])

    @property
    def test_loss(self) -> float | None:
        return self.test.get("test_loss")

    @property
    def test_recon(self) -> float | None:
        return self.test.get("test_recon")

    @property
    def test_kl(self) -> float | None:
        return self.test.get("test_kl")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Any) -> EpochRecord:
        if not isinstance(d, dict):
            raise RecordError("each history entry must be an object")
        epoch = d.get("epoch")
        if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 1:
            raise RecordError(f"history epoch must be a positive integer, got {epoch!r}")
        where = f"history[epoch {epoch}]"
        beta = d.get("beta")
        if beta is not None and not _number(beta):
            raise RecordError(f"{where}.beta must be a number")
        for key in ("elapsed", "samples_per_s"):
            if not _number(d.get(key, 0.0)):
                raise RecordError(f"{where}.{key} must be a number")
        unknown = set(d) - {"epoch", "train", "train_vectors", "test", "beta", "elapsed", "samples_per_s"}
        if unknown:
            raise RecordError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        return cls(
            epoch=epoch,
            train=_metrics(d.get("train", {}), f"{where}.train"),
            train_vectors=_metrics(d.get("train_vectors", {}), f"{where}.train_vectors"),
            test=_metrics(d.get("test", {}), f"{where}.test"),
            beta=beta,
            elapsed=float(d.get("elapsed", 0.0)),
            samples_per_s=float(d.get("samples_per_s", 0.0)),
        )


def history_from_json(items: Any) -> list[EpochRecord]:
    if not isinstance(items, list):
        raise RecordError("history must be a list")
    if len(items) > MAX_HISTORY:
        raise RecordError(f"history holds {len(items):,} epochs; the limit is {MAX_HISTORY:,}")
    history = [EpochRecord.from_dict(d) for d in items]
    if any(b.epoch <= a.epoch for a, b in zip(history, history[1:])):
        raise RecordError("history epochs must increase")
    return history


@dataclass
class RunRecord:
    """Everything a run produced except the weights."""

    family: str
    model: dict[str, Any]  # ModelConfig.to_dict()
    training: dict[str, Any]  # TrainConfig.to_dict()
    dataset: dict[str, Any]  # {"name": ..., "params": {...}}
    history: list[EpochRecord] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)  # final test metrics (test_*), and timings
    status: str = "done"
    error: str | None = None
    steps: int = 0  # optimiser steps over the whole run
    seconds: float = 0.0  # wall time of this invocation
    train_seconds: float = 0.0
    samples: int = 0
    device: str = "cpu"
    resumed_at: list[int] = field(default_factory=list)  # epochs after which the run was continued

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.train_seconds if self.train_seconds > 0 else 0.0

    def run_info(self) -> dict[str, Any]:
        """The JSON `run` object of a checkpoint."""
        return {
            "status": self.status, "error": self.error, "steps": self.steps, "device": self.device,
            "resumed_at": list(self.resumed_at),
        }

    def summary(self) -> dict[str, Any]:
        """The CLI's one JSON line: final metrics first, then how the run went."""
        return {**self.metrics, "epochs": len(self.history) and self.history[-1].epoch, "status": self.status,
                "error": self.error, "steps": self.steps, "device": self.device}
