"""One run, the same from the command line and from the app: seed -> data -> model -> fit ->
evaluate -> (disentanglement metrics, when asked) -> run record -> checkpoint (with the trainer
state, so it can be continued)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from ..checkpoints import CheckpointError, load_checkpoint, load_trainer_state, make_metadata, save_checkpoint
from ..config import ConfigError, ModelConfig, TrainConfig
from ..data import Dataset, DatasetError, balanced_label_mask, load_dataset
from ..metrics import evaluate_disentanglement, measurable, oracle_for
from ..models import LatentModel, build_model
from .record import EpochRecord, RunRecord
from .trainer import StepReport, TrainData, evaluate, fit


@dataclass(frozen=True)
class RunSpec:
    """What to train: a dataset by name, model and training settings. JSON-able, so it can cross to a
    worker process and be written down."""

    dataset: str
    dataset_params: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)  # ModelConfig fields except image_shape / n_classes
    training: dict[str, Any] = field(default_factory=dict)  # TrainConfig fields (family is the model's)
    device: str = "cpu"
    resume_from: str | None = None  # a checkpoint folder whose run to continue
    # score MIG, DCI, SAP and FactorVAE once trained (gaussian models of datasets with known factors)
    measure_disentanglement: bool = False

    @property
    def family(self) -> str:
        return self.model.get("family", "gaussian")

    def train_config(self) -> TrainConfig:
        return TrainConfig(**{**self.training, "family": self.family})

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "dataset_params": self.dataset_params, "model": self.model,
                "training": self.training, "device": self.device, "resume_from": self.resume_from,
                "measure_disentanglement": self.measure_disentanglement}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSpec:
        return cls(**d)


@dataclass
class RunOutcome:
    record: RunRecord
    model: LatentModel
    checkpoint: Path | None


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but no CUDA device is available")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def model_settings(config: ModelConfig) -> dict[str, Any]:
    """The fields of a model config a run spec carries: what the data decides is filled in again."""
    return {k: v for k, v in config.to_dict().items() if k not in ("image_shape", "n_classes")}


def model_config_for(data: Dataset, model: dict[str, Any]) -> ModelConfig:
    kw = dict(model)
    if kw.get("family") == "m2":
        kw["n_classes"] = data.n_classes
    return ModelConfig(image_shape=data.image_shape, **kw)


def labelled_mask(data: Dataset, config: TrainConfig) -> torch.Tensor:
    """Which training labels the run may use: all, or `labels` of them balanced over classes (m2)."""
    labels = data.train_labels
    if config.family != "m2" or config.labels == 0:
        return torch.ones(len(labels), dtype=torch.bool)
    if config.labels > len(labels):
        raise DatasetError(f"--labels {config.labels} is more than the {len(labels):,} training images")
    return balanced_label_mask(labels, config.labels, data.n_classes, config.seed)


def run_training(
    spec: RunSpec,
    out: str | os.PathLike | None,
    *,
    data: Dataset | None = None,
    name: str | None = None,
    on_step: Callable[[StepReport], None] | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    extra_metadata: dict[str, Any] | None = None,
) -> RunOutcome:
    """Train as `spec` says and save the checkpoint in `out` (None: keep it in memory only).

    Raises ConfigError, DatasetError or CheckpointError for bad settings, before any training.
    """
    started = time.perf_counter()
    device = resolve_device(spec.device)
    train_cfg = spec.train_config()
    train_cfg.check_schedule()
    data = data if data is not None else load_dataset(spec.dataset, **spec.dataset_params)
    history: list[EpochRecord] = []
    state = None
    resumed_at: list[int] = []
    if spec.resume_from is not None:
        ck = load_checkpoint(spec.resume_from)
        model, model_cfg = ck.model, ck.config
        previous = TrainConfig.from_dict({"family": model_cfg.family, **ck.metadata.get("training", {})})
        if replace(previous, epochs=train_cfg.epochs) != train_cfg:
            raise ConfigError("a continued run keeps its settings; only the number of epochs may change")
        state = load_trainer_state(spec.resume_from, model, model.auxiliary(train_cfg))
        if train_cfg.epochs <= state.epochs_done:
            raise ConfigError(f"the run already has {state.epochs_done} epochs; ask for more than that to continue")
        if model_cfg.image_shape != data.image_shape:
            raise DatasetError(f"the dataset's images are {data.image_shape}, the model's {model_cfg.image_shape}")
        history = [e for e in ck.history if e.epoch <= state.epochs_done]
        resumed_at = [*ck.metadata.get("run", {}).get("resumed_at", []), state.epochs_done]
        model.train()
    else:
        model_cfg = model_config_for(data, spec.model)
        model = build_model(model_cfg, torch.Generator().manual_seed(train_cfg.seed))
    model = model.to(device)
    mask = labelled_mask(data, train_cfg)
    images = data.images.to(device)  # one copy; the splits are rows of it
    train = TrainData(images, data.train_labels.to(device), mask.to(device), rows=data.train_index.to(device))
    test = TrainData(images, data.test_labels.to(device), rows=data.test_index.to(device))

    result = fit(model, train, train_cfg, test=test, on_step=on_step, on_epoch=on_epoch, should_stop=should_stop,
                 state=state)
    final = evaluate(model, test, train_cfg, seed=train_cfg.seed)
    history = [*history, *result.epochs]
    record = RunRecord(
        family=model_cfg.family, model=model_cfg.to_dict(), training=train_cfg.to_dict(),
        dataset={"name": data.name, "params": data.params}, history=history,
        status="failed" if result.error else ("stopped" if result.stopped else "done"), error=result.error,
        steps=result.steps, seconds=time.perf_counter() - started, train_seconds=result.train_seconds,
        samples=result.samples, device=device.type, resumed_at=resumed_at,
    )
    record.metrics = {
        **{k: round(v, 4) if isinstance(v, float) else v for k, v in final.items()},
        "train_samples_per_s": round(record.samples_per_s, 1),
        "epochs": history[-1].epoch if history else 0,
        "seconds": round(result.state.elapsed, 2),
        "stopped_early": result.stopped,
    }
    model = model.cpu().eval()
    scores = disentanglement_of(model, data.name) if spec.measure_disentanglement and not result.error else None
    path = None
    if out is not None:
        meta = make_metadata(
            model_cfg, dataset=data.name, dataset_params=data.params, training=train_cfg.to_dict(),
            metrics=record.metrics, name=name or Path(out).name, history=history, run=record.run_info(),
        )
        if scores is not None:
            meta["disentanglement"] = scores  # where `python -m vae_core.evaluate --save` puts them
        meta.update(extra_metadata or {})
        try:
            path = save_checkpoint(out, model, meta, state=result.state)
        except OSError as exc:
            raise CheckpointError(f"could not write the checkpoint to {out}: {exc}") from None
    return RunOutcome(record=record, model=model, checkpoint=path)


def disentanglement_of(model: LatentModel, dataset: str) -> dict[str, Any] | None:
    """The four metrics' summary (default protocol), or None where the model has no Gaussian code or
    the dataset no oracle here (dsprites without its full file)."""
    if not measurable(model.family, dataset):
        return None
    try:
        oracle = oracle_for(dataset)
    except DatasetError:
        return None
    return evaluate_disentanglement(model, oracle).summary()
