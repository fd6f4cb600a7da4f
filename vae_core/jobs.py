"""Run `fit` on a background thread so a UI stays responsive and can stop it."""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass, field

import torch

from .checkpoints import Checkpoint, make_metadata
from .config import ModelConfig, TrainConfig
from .data import Dataset
from .models import VAE
from .trainer import EpochReport, FitResult, StepReport, evaluate, fit


@dataclass
class JobSnapshot:
    status: str  # "running", "done", "stopped", "failed"
    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    recon: list[float] = field(default_factory=list)
    kl: list[float] = field(default_factory=list)
    beta: list[float] = field(default_factory=list)
    epochs: list[EpochReport] = field(default_factory=list)
    progress: float = 0.0  # 0..1
    samples_per_s: float = 0.0
    elapsed: float = 0.0
    error: str | None = None
    steps_per_epoch: int = 1


class TrainingJob:
    """One training run on a worker thread; poll `snapshot()`, call `stop()` to halt within a batch."""

    def __init__(self, data: Dataset, model_config: ModelConfig, train_config: TrainConfig) -> None:
        self.data = data
        self.model_config = model_config
        self.train_config = train_config
        self._stop = threading.Event()
        self._lock = threading.Lock()
        steps_per_epoch = -(-len(data.train_index) // train_config.batch_size)
        self._snap = JobSnapshot(status="running", steps_per_epoch=steps_per_epoch)
        self._total_steps = train_config.epochs * steps_per_epoch
        self.model: VAE | None = None
        self.result: FitResult | None = None
        self.test_metrics: dict | None = None
        self._thread = threading.Thread(target=self._run, name="vae-training", daemon=True)

    def start(self) -> TrainingJob:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            s = self._snap
            return JobSnapshot(
                s.status, list(s.steps), list(s.loss), list(s.recon), list(s.kl), list(s.beta),
                list(s.epochs), s.progress, s.samples_per_s, s.elapsed, s.error, s.steps_per_epoch,
            )

    def _on_step(self, r: StepReport) -> None:
        with self._lock:
            s = self._snap
            s.steps.append(r.global_step)
            s.loss.append(r.loss)
            s.recon.append(r.recon)
            s.kl.append(r.kl)
            s.beta.append(r.beta)
            s.progress = r.global_step / self._total_steps
            s.samples_per_s = r.samples_per_s
            s.elapsed = r.elapsed

    def _on_epoch(self, r: EpochReport) -> None:
        with self._lock:
            self._snap.epochs.append(r)

    def _run(self) -> None:
        started = time.perf_counter()
        try:
            torch.manual_seed(self.train_config.seed)
            model = VAE(self.model_config)
            test_x = self.data.test_images
            result = fit(
                model, self.data.train_images, self.train_config, test_images=test_x,
                on_step=self._on_step, on_epoch=self._on_epoch, should_stop=self._stop.is_set,
            )
            self.model, self.result = model, result
            self.test_metrics = evaluate(model, test_x, seed=self.train_config.seed)
            status = "failed" if result.error else ("stopped" if result.stopped else "done")
            error = result.error
        except Exception as exc:  # surfaced in the UI, never lost on the thread
            status, error = "failed", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
        with self._lock:
            self._snap.status = status
            self._snap.error = error
            self._snap.elapsed = time.perf_counter() - started
            if status == "done":
                self._snap.progress = 1.0

    def checkpoint(self, name: str | None = None) -> Checkpoint:
        """The trained model with metadata describing this run (after it has finished)."""
        if self.model is None or self.result is None:
            raise RuntimeError("the job has not produced a model")
        m = self.test_metrics or {}
        metrics = {
            "train_samples_per_s": round(self.result.samples_per_s, 1),
            "test_loss": m.get("loss"),
            "test_recon": m.get("recon"),
            "test_kl": m.get("kl"),
            "epochs": len(self.result.epochs),
            "seconds": round(self.result.seconds, 2),
            "stopped_early": self.result.stopped,
        }
        meta = make_metadata(
            self.model_config, dataset=self.data.name, dataset_params=self.data.params,
            training=self.train_config.to_dict(), metrics=metrics, name=name,
        )
        return Checkpoint(model=self.model, metadata=meta)
