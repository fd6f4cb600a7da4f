"""Runners execute runs away from the web server. `ProcessRunner` starts each run in a worker
process: the server stays responsive, a crashed run can't take it down, and Stop ends a run
within one batch (the worker checks a shared flag before every step).

Threads: every process that runs torch gets a thread budget so that the server's threads and all
workers' together never exceed the cores: the server keeps what `max_workers` workers leave.
Oversubscribed torch threads spin-wait for a core that is taken: one MNIST epoch ran at 16,200
samples/s with 1 thread and 280 samples/s with 2 while another process kept a core busy. Runs beyond
`max_workers` wait in a queue, first come first served.

The `Runner` interface is what the app uses; a distributed backend can implement it too.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import queue
import threading
import time
import traceback
import uuid
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .record import EpochRecord
from .run import RunSpec

ACTIVE = ("queued", "starting", "running")
MAX_POINTS = 2000  # step points kept for the live chart; thinned by half when full
STEP_EVENT_INTERVAL = 0.2  # seconds between step events a worker sends


@dataclass
class RunProgress:
    """What a page polls: the state of one run and its curves so far."""

    run_id: str
    status: str = "queued"  # queued, starting, running, done, stopped, failed
    steps: list[int] = field(default_factory=list)
    terms: dict[str, list[float]] = field(default_factory=dict)  # per step point: loss, recon, kl, ...
    beta: list[float | None] = field(default_factory=list)
    epochs: list[EpochRecord] = field(default_factory=list)
    progress: float = 0.0
    samples_per_s: float = 0.0
    elapsed: float = 0.0
    error: str | None = None
    steps_per_epoch: int = 1
    total_epochs: int = 0
    checkpoint: str | None = None
    queue_position: int | None = None  # 1-based while queued
    family: str = "gaussian"  # the model family being trained (which per-epoch views apply)

    @property
    def running(self) -> bool:
        return self.status in ACTIVE

    @property
    def loss(self) -> list[float]:
        return self.terms.get("loss", [])

    def copy(self) -> RunProgress:
        return RunProgress(
            self.run_id, self.status, list(self.steps), {k: list(v) for k, v in self.terms.items()}, list(self.beta),
            list(self.epochs), self.progress, self.samples_per_s, self.elapsed, self.error, self.steps_per_epoch,
            self.total_epochs, self.checkpoint, self.queue_position, self.family,
        )


class RunHandle(ABC):
    """One submitted run."""

    run_id: str
    out_dir: Path

    @abstractmethod
    def poll(self) -> RunProgress: ...

    @abstractmethod
    def stop(self) -> None: ...

    @property
    def running(self) -> bool:
        return self.poll().running

    def join(self, timeout: float | None = None) -> RunProgress:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            progress = self.poll()
            if not progress.running or (deadline is not None and time.monotonic() > deadline):
                return progress
            time.sleep(0.05)


class Runner(ABC):
    @abstractmethod
    def submit(self, spec: RunSpec, out_dir: str | os.PathLike, *, name: str | None = None,
               dataset_file: str | os.PathLike | None = None,
               extra_metadata: dict[str, Any] | None = None) -> RunHandle: ...

    @abstractmethod
    def active_runs(self) -> int: ...


def thread_budget(cores: int, max_workers: int) -> int:
    """Torch threads per worker: the cores left after one for the server, shared by the workers."""
    return max(1, (cores - 1) // max(1, max_workers))


# --- the worker process ------------------------------------------------------------------------


def _worker_main(spec: dict, out_dir: str, name: str | None, dataset_file: str | None, extra: dict | None,
                 threads: int, events: mp.Queue, stop: Any) -> None:
    """Entry point of a worker process: run, report through `events`, save into `out_dir`."""
    import torch

    torch.set_num_threads(threads)
    out = Path(out_dir)
    log = open(out / "worker.log", "a")  # noqa: SIM115 (kept open for the life of the process)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    from ..checkpoints import CheckpointError
    from ..config import ConfigError
    from ..data import DatasetError
    from ..data.saved import load_saved_dataset
    from .run import run_training

    last = [0.0]

    def on_step(r) -> None:
        now = time.monotonic()
        if now - last[0] >= STEP_EVENT_INTERVAL or r.step == r.steps_per_epoch:
            last[0] = now
            events.put(("step", {"epoch": r.epoch, "step": r.step, "steps_per_epoch": r.steps_per_epoch,
                                 "global_step": r.global_step, "terms": r.terms, "beta": r.beta,
                                 "elapsed": r.elapsed, "samples_per_s": r.samples_per_s}))

    def on_epoch(r: EpochRecord) -> None:
        events.put(("epoch", r.to_dict()))

    try:
        run_spec = RunSpec.from_dict(spec)
        data = load_saved_dataset(dataset_file) if dataset_file else None
        events.put(("started", {"epochs": run_spec.train_config().epochs}))
        outcome = run_training(run_spec, out, data=data, name=name, on_step=on_step, on_epoch=on_epoch,
                               should_stop=stop.is_set, extra_metadata=extra)
        record = outcome.record
        events.put(("finished", {"status": record.status, "error": record.error,
                                 "checkpoint": str(outcome.checkpoint), "metrics": record.metrics}))
    except (ConfigError, DatasetError, CheckpointError, OSError) as exc:
        events.put(("finished", {"status": "failed", "error": f"training did not run: {exc}"}))
    except Exception as exc:  # noqa: BLE001 (reported to the page in one line; the traceback stays in the log)
        traceback.print_exc()
        events.put(("finished", {"status": "failed", "error": f"training failed: {type(exc).__name__}: {exc}"}))
    finally:
        events.close()
        events.join_thread()  # flush before the process exits
        log.flush()


# --- the parent's view --------------------------------------------------------------------------


class ProcessHandle(RunHandle):
    def __init__(self, runner: ProcessRunner, run_id: str, out_dir: Path, args: tuple, epochs: int) -> None:
        self.runner = runner
        self.run_id = run_id
        self.out_dir = out_dir
        self._args = args
        self._ctx = runner.context
        self._events = self._ctx.Queue()
        self._stop = self._ctx.Event()
        self._process = None
        self._lock = threading.Lock()
        self._progress = RunProgress(run_id, total_epochs=epochs, family=args[0]["model"].get("family", "gaussian"))
        self._finished = False
        self._total_steps: int | None = None

    def start(self, threads: int) -> None:
        self._process = self._ctx.Process(
            target=_worker_main, args=(*self._args, threads, self._events, self._stop),
            name=f"latent-explorer-run-{self.run_id}", daemon=True,
        )
        self._progress.status = "starting"
        self._progress.queue_position = None
        self._process.start()

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    @property
    def started(self) -> bool:
        return self._process is not None

    def stop(self) -> None:
        self._stop.set()
        self.runner._cancel_queued(self)

    def cancel_queued(self) -> None:
        with self._lock:
            self._progress.status = "stopped"
            self._progress.error = None
            self._finished = True

    def poll(self) -> RunProgress:
        self.runner._pump()
        with self._lock:
            self._drain()
            return self._progress.copy()

    def _drain(self) -> None:
        p = self._progress
        while True:
            try:
                kind, payload = self._events.get_nowait()
            except queue.Empty:
                break
            except (EOFError, OSError):
                break
            if kind == "started":
                p.status = "running"
            elif kind == "step":
                p.status = "running"
                p.steps_per_epoch = payload["steps_per_epoch"]
                self._total_steps = p.total_epochs * p.steps_per_epoch
                p.steps.append(payload["global_step"])
                for k, v in payload["terms"].items():
                    p.terms.setdefault(k, []).append(v)
                p.beta.append(payload["beta"])
                p.progress = min(1.0, payload["global_step"] / max(self._total_steps, 1))
                p.samples_per_s = payload["samples_per_s"]
                p.elapsed = payload["elapsed"]
                if len(p.steps) > MAX_POINTS:  # keep every other point: the chart stays light
                    p.steps = p.steps[::2]
                    p.terms = {k: v[::2] for k, v in p.terms.items()}
                    p.beta = p.beta[::2]
            elif kind == "epoch":
                p.epochs.append(EpochRecord.from_dict(payload))
            elif kind == "finished":
                p.status = payload["status"]
                p.error = payload.get("error")
                p.checkpoint = payload.get("checkpoint")
                if p.status == "done":
                    p.progress = 1.0
                self._finished = True
        if not self._finished and self._process is not None and not self._process.is_alive():
            self._process.join(0)
            p.status = "failed"
            p.error = f"the training process ended unexpectedly (exit code {self._process.exitcode})"
            self._finished = True

    @property
    def finished(self) -> bool:
        with self._lock:
            self._drain()
            return self._finished


class ProcessRunner(Runner):
    """Runs in worker processes, at most `max_workers` at a time; the rest wait in a queue."""

    def __init__(self, max_workers: int | None = None, cores: int | None = None,
                 manage_server_threads: bool = True) -> None:
        self.cores = cores or os.cpu_count() or 1
        self.max_workers = max_workers or max(1, self.cores - 1)
        self.worker_threads = thread_budget(self.cores, self.max_workers)
        self.context = mp.get_context("spawn")  # never fork a process that runs threads
        if manage_server_threads:  # once, here: resizing the pool while other threads compute risks a hang
            import torch

            torch.set_num_threads(max(1, self.cores - self.max_workers * self.worker_threads))
        self._lock = threading.RLock()
        self._queued: deque[ProcessHandle] = deque()
        self._running: list[ProcessHandle] = []
        self._ids = itertools.count(1)

    def submit(self, spec, out_dir, *, name=None, dataset_file=None, extra_metadata=None) -> ProcessHandle:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        run_id = f"{next(self._ids)}-{uuid.uuid4().hex[:8]}"
        args = (spec.to_dict(), str(out), name, None if dataset_file is None else str(dataset_file), extra_metadata)
        handle = ProcessHandle(self, run_id, out, args, spec.train_config().epochs)
        with self._lock:
            self._queued.append(handle)
        self._pump()
        return handle

    def active_runs(self) -> int:
        with self._lock:
            return len(self._running)

    def queued_runs(self) -> int:
        with self._lock:
            return len(self._queued)

    def _cancel_queued(self, handle: ProcessHandle) -> None:
        with self._lock:
            if handle in self._queued:
                self._queued.remove(handle)
                handle.cancel_queued()

    def _pump(self) -> None:
        """Start queued runs while there is room."""
        with self._lock:
            self._running = [h for h in self._running if not h.finished]
            while self._queued and len(self._running) < self.max_workers:
                handle = self._queued.popleft()
                handle.start(self.worker_threads)
                self._running.append(handle)
            for position, handle in enumerate(self._queued, start=1):
                handle._progress.queue_position = position
