"""Runners execute runs away from the web server. `ProcessRunner` starts each run in a worker
process: the server stays responsive, a crashed run can't take it down, and Stop ends a run
within one batch (the worker checks a shared flag before every step).

Admission, for one server shared by a class: at most `max_workers` runs train at once (default: the
machine's cores); the rest wait in a queue ordered fairly (round-robin over owners, so one
student's sweep can't hold back everyone else's first run), each told its place and an estimated
wait. An owner may queue at most `max_queued_per_owner` runs. A run whose owner has not been seen
for `grace_s` seconds (tab closed, not reloaded) is stopped; a reloaded page adopts it again.
Workers run at a lower CPU priority than the server, so exploring never waits behind training, and
each has a memory allowance (RLIMIT_DATA): a run that asks for more fails with a message, not the
machine.

Threads: every process that runs torch gets a thread budget so that the server's threads and all
workers' together never exceed the cores: the server keeps what `max_workers` workers leave.
Oversubscribed torch threads spin-wait for a core that is taken: one MNIST epoch ran at 16,200
samples/s with 1 thread and 280 samples/s with 2 while another process kept a core busy. Runs beyond
`max_workers` wait in a queue, first come first served.

The `Runner` interface is what the app uses; a distributed backend can implement it too.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing as mp
import os
import queue
import re
import threading
import time
import traceback
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .record import EpochRecord
from .run import RunSpec

ACTIVE = ("queued", "starting", "running")
MAX_POINTS = 400  # step points kept for the live chart; thinned by half when full
STEP_EVENT_INTERVAL = 0.2  # seconds between step events a worker sends
MAX_QUEUED_PER_OWNER = 12  # one sweep's worth
GRACE_S = 60.0  # how long a run outlives its last page
WORKER_NICE = 19  # the lowest priority: the server's page requests (and anything else) come first
RUN_MEMORY_BYTES = 3 * 1024**3  # the default allowance of one worker process
_PATH_RE = re.compile(r"(?:[A-Za-z]:)?(?:/[^/\s'\"]+)+/([^/\s'\"]+)")


class AdmissionError(RuntimeError):
    """A run the runner will not take (a limit of its owner); the message says which."""


def scrub_paths(message: str) -> str:
    """A message for the page: absolute server paths reduced to their last part."""
    return _PATH_RE.sub(lambda m: f"…/{m.group(1)}", message)


def env_number(name: str, default: float) -> float:
    """A positive number from the environment (the default when unset or invalid)."""
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


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
    wait_estimate_s: float | None = None  # while queued: seconds until it starts, if known

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
            self.total_epochs, self.checkpoint, self.queue_position, self.family, self.wait_estimate_s,
        )


class RunHandle(ABC):
    """One submitted run."""

    run_id: str
    out_dir: Path
    owner: str | None = None  # who may stop it; None: nobody watches it (the CLI, tests)

    @abstractmethod
    def poll(self) -> RunProgress: ...

    @abstractmethod
    def stop(self, reason: str | None = None) -> None:
        """Ask the run to end (within one batch); `reason` is shown if someone else stopped it."""

    @abstractmethod
    def touch(self) -> None:
        """Its owner's page is open: keep the run alive."""

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
               extra_metadata: dict[str, Any] | None = None, owner: str | None = None,
               expected_samples: int | None = None) -> RunHandle:
        """Queue a run. Raises AdmissionError when `owner` has too many runs waiting."""

    @abstractmethod
    def active_runs(self) -> int: ...

    @abstractmethod
    def touch_owner(self, owner: str) -> None:
        """Every run of `owner` is still watched."""

    @abstractmethod
    def shutdown(self) -> None:
        """Stop every run and release the runner's processes and threads."""


def thread_budget(cores: int, max_workers: int) -> int:
    """Torch threads per worker: the cores left after one for the server, shared by the workers."""
    return max(1, (cores - 1) // max(1, max_workers))


# --- the worker process ------------------------------------------------------------------------


def limit_worker(memory_bytes: int | None) -> None:
    """Lower this process's CPU priority and cap its memory (Linux and macOS; elsewhere, neither)."""
    with contextlib.suppress(AttributeError, OSError):
        os.nice(WORKER_NICE)
    _background_scheduling_group()
    if memory_bytes:
        with contextlib.suppress(ImportError, ValueError, OSError):
            import resource

            resource.setrlimit(resource.RLIMIT_DATA, (memory_bytes, memory_bytes))


def _background_scheduling_group() -> None:
    """Linux with autogroup scheduling (most distributions): CPU time is shared between sessions
    before nice counts, so a nice-19 worker in the server's session still takes a full session's
    share from every other program (a browser on the same laptop). A session of its own at autogroup
    nice 19 makes it yield to them too. Elsewhere this does nothing."""
    group = Path("/proc/self/autogroup")
    if not group.exists():
        return
    with contextlib.suppress(OSError):
        os.setsid()  # also keeps a terminal's Ctrl-C away from workers: the server ends them itself
        group.write_text(str(WORKER_NICE))


def failure_message(exc: BaseException, memory_bytes: int | None) -> str:
    """One line for the page: what went wrong, with no server paths and no traceback."""
    text = str(exc)
    if isinstance(exc, MemoryError) or "can't allocate memory" in text or "Cannot allocate memory" in text:
        cap = f" ({memory_bytes / 1024**3:.1f} GB)" if memory_bytes else ""
        return (f"training stopped: it needed more memory than a run may use{cap}; "
                "train on fewer images, or with a smaller batch or model")
    if isinstance(exc, OSError) and getattr(exc, "errno", None) == 28:
        return "training stopped: the server's disk is full, so the checkpoint could not be written (nothing was lost)"
    return scrub_paths(f"training failed: {type(exc).__name__}: {text}")[:500]


def execute_run(spec: dict, out_dir: str, name: str | None, dataset_file: str | None, extra: dict | None,
                emit: Callable[[str, dict], None], should_stop: Callable[[], bool],
                memory_bytes: int | None = None) -> None:
    """Run one training wherever this is called (a worker process, a Ray task), reporting through
    `emit(kind, payload)`: "started", "step" (at most every STEP_EVENT_INTERVAL s), "epoch", and
    always a last "finished" with the status and a one-line error for the page."""
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
            emit("step", {"epoch": r.epoch, "step": r.step, "steps_per_epoch": r.steps_per_epoch,
                          "global_step": r.global_step, "terms": r.terms, "beta": r.beta,
                          "elapsed": r.elapsed, "samples_per_s": r.samples_per_s})

    def on_epoch(r: EpochRecord) -> None:
        emit("epoch", r.to_dict())

    try:
        run_spec = RunSpec.from_dict(spec)
        data = load_saved_dataset(dataset_file) if dataset_file else None
        emit("started", {"epochs": run_spec.train_config().epochs})
        outcome = run_training(run_spec, Path(out_dir), data=data, name=name, on_step=on_step, on_epoch=on_epoch,
                               should_stop=should_stop, extra_metadata=extra)
        record = outcome.record
        emit("finished", {"status": record.status, "error": record.error, "checkpoint": str(outcome.checkpoint),
                          "metrics": record.metrics})
    except (ConfigError, DatasetError, CheckpointError) as exc:
        emit("finished", {"status": "failed", "error": scrub_paths(f"training did not run: {exc}")})
    except BaseException as exc:  # noqa: BLE001 (reported to the page in one line; the traceback stays in the log)
        traceback.print_exc()
        emit("finished", {"status": "failed", "error": failure_message(exc, memory_bytes)})


def _worker_main(spec: dict, out_dir: str, name: str | None, dataset_file: str | None, extra: dict | None,
                 threads: int, memory_bytes: int | None, events: mp.Queue, stop: Any) -> None:
    """Entry point of a worker process: run, report through `events`, save into `out_dir`. It also
    stops, saving what it learned, when the server that started it is gone (killed, say)."""
    server = os.getppid()
    limit_worker(memory_bytes)
    import torch

    torch.set_num_threads(threads)
    log = open(Path(out_dir) / "worker.log", "a")  # noqa: SIM115 (kept open for the life of the process)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    try:
        execute_run(spec, out_dir, name, dataset_file, extra, lambda kind, payload: events.put((kind, payload)),
                    lambda: stop.is_set() or os.getppid() != server, memory_bytes)
    finally:
        events.close()
        events.join_thread()  # flush before the process exits
        log.flush()


# --- the queue, common to every backend ------------------------------------------------------------


class QueuedHandle(RunHandle):
    """A run the server's queue holds: its owner, when it was last watched, and its progress, fed
    by events ("started", "step", "epoch", "finished") from wherever it runs."""

    def __init__(self, runner: QueuedRunner, run_id: str, out_dir: Path, spec: RunSpec, owner: str | None,
                 expected_samples: int | None, seq: int) -> None:
        self.runner = runner
        self.run_id = run_id
        self.out_dir = out_dir
        self.spec = spec
        self.owner = owner
        self.expected_samples = expected_samples
        self.seq = seq  # submission order
        self.last_seen = time.monotonic()
        self._stop_reason: str | None = None
        self._lock = threading.Lock()
        self._progress = RunProgress(run_id, total_epochs=spec.train_config().epochs, family=spec.family)
        self._finished = False
        self._released = False
        self._total_steps: int | None = None

    # what a backend provides
    @abstractmethod
    def start(self) -> None:
        """Begin running (called by the queue when a slot is free)."""

    @property
    @abstractmethod
    def started(self) -> bool: ...

    @abstractmethod
    def _request_stop(self) -> None:
        """Tell the running run to stop at its next batch."""

    @abstractmethod
    def _next_event(self) -> tuple[str, dict] | None:
        """The next event from the run, or None when there is none now."""

    @abstractmethod
    def _lost(self) -> str | None:
        """Why the run ended without a "finished" event (its process or node died), or None."""

    @abstractmethod
    def _cleanup(self, force: bool = False) -> None:
        """Release what the run held (a process, a queue, a task); `force`: end it now."""

    # the common part
    def touch(self) -> None:
        self.last_seen = time.monotonic()

    def stop(self, reason: str | None = None) -> None:
        self._stop_reason = reason
        if self.started:
            self._request_stop()
        self.runner._cancel_queued(self)

    def cancel_queued(self) -> None:
        with self._lock:
            self._progress.status = "stopped"
            self._progress.error = self._stop_reason
            self._progress.queue_position = None
            self._progress.wait_estimate_s = None
            self._finished = True
        self._release()

    def mark_starting(self) -> None:
        with self._lock:
            self._progress.status = "starting"
            self._progress.queue_position = None
            self._progress.wait_estimate_s = None

    def poll(self) -> RunProgress:
        self.runner._pump()
        with self._lock:
            self._drain()
            return self._progress.copy()

    def remaining_s(self, rate: float | None) -> float | None:
        """Seconds until it ends: from its own pace once it runs, else from the server's last rate."""
        with self._lock:
            p = self._progress
            if p.status == "running" and p.progress > 0 and p.elapsed > 0:
                return p.elapsed / p.progress - p.elapsed
        if rate and self.expected_samples:
            return self.expected_samples / rate
        return None

    def _drain(self) -> None:
        while not self._finished:
            event = self._next_event()
            if event is None:
                break
            self._apply(*event)
        if not self._finished and self.started:
            lost = self._lost()
            if lost is not None:
                self._progress.status = "failed"
                self._progress.error = lost
                self._finished = True
        if self._finished:
            self._release()

    def _apply(self, kind: str, payload: dict) -> None:
        p = self._progress
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
            if p.samples_per_s > 0:
                self.runner._observe_rate(p.samples_per_s)
            if len(p.steps) > MAX_POINTS:  # keep every other point: the chart stays light
                p.steps = p.steps[::2]
                p.terms = {k: v[::2] for k, v in p.terms.items()}
                p.beta = p.beta[::2]
        elif kind == "epoch":
            p.epochs.append(EpochRecord.from_dict(payload))
        elif kind == "finished":
            p.status = payload["status"]
            p.error = payload.get("error")
            if p.status == "stopped" and self._stop_reason:
                p.error = self._stop_reason
            p.checkpoint = payload.get("checkpoint")
            if p.status == "done":
                p.progress = 1.0
            self._finished = True

    def _release(self, force: bool = False) -> None:
        if self._released and not force:
            return
        self._released = True
        self._cleanup(force)

    @property
    def finished(self) -> bool:
        with self._lock:
            self._drain()
            return self._finished


class QueuedRunner(Runner):
    """The admission layer every backend shares: a limit on runs at once, a fair queue beyond it
    with places and wait estimates, per-owner limits, and stopping runs nobody watches."""

    def __init__(self, max_workers: int, *, max_queued_per_owner: int = MAX_QUEUED_PER_OWNER,
                 grace_s: float = GRACE_S, monitor_interval_s: float = 1.0) -> None:
        self.max_workers = max(1, int(max_workers))
        self.max_queued_per_owner = max_queued_per_owner
        self.grace_s = grace_s
        self._lock = threading.RLock()
        self._queued: list[QueuedHandle] = []
        self._running: list[QueuedHandle] = []
        self._ids = itertools.count(1)
        self._rate: float | None = None  # samples/s of the latest run that reported one
        self._monitor_interval_s = monitor_interval_s
        self._monitor: threading.Thread | None = None
        self._closing = threading.Event()

    @abstractmethod
    def _make_handle(self, run_id: str, out: Path, spec: RunSpec, name: str | None, dataset_file: str | None,
                     extra: dict | None, owner: str | None, expected_samples: int | None, seq: int) -> QueuedHandle:
        ...

    def submit(self, spec, out_dir, *, name=None, dataset_file=None, extra_metadata=None, owner=None,
               expected_samples=None) -> QueuedHandle:
        if self._closing.is_set():
            raise AdmissionError("the server is shutting down; no new runs")
        with self._lock:
            waiting = sum(1 for h in self._queued if owner is not None and h.owner == owner)
            if waiting >= self.max_queued_per_owner:
                raise AdmissionError(f"you already have {waiting} runs waiting (the limit is "
                                     f"{self.max_queued_per_owner}); stop one or wait for them to start")
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        seq = next(self._ids)
        handle = self._make_handle(f"{seq}-{uuid.uuid4().hex[:8]}", out, spec, name,
                                   None if dataset_file is None else str(dataset_file), extra_metadata, owner,
                                   expected_samples, seq)
        with self._lock:
            self._queued.append(handle)
            self._ensure_monitor()
        self._pump()
        return handle

    def active_runs(self) -> int:
        with self._lock:
            return len(self._running)

    def queued_runs(self) -> int:
        with self._lock:
            return len(self._queued)

    def handles(self) -> list[QueuedHandle]:
        with self._lock:
            return [*self._running, *self._queued]

    def touch_owner(self, owner: str) -> None:
        for handle in self.handles():
            if handle.owner == owner:
                handle.touch()

    def _observe_rate(self, samples_per_s: float) -> None:
        self._rate = samples_per_s

    def _cancel_queued(self, handle: QueuedHandle) -> None:
        with self._lock:
            if handle in self._queued:
                self._queued.remove(handle)
                handle.cancel_queued()
        self._pump()

    def _fair_order(self) -> list[QueuedHandle]:
        """The queue in the order runs will start: round-robin over owners, then first come."""
        running: dict[str | None, int] = {}
        for h in self._running:
            running[h.owner] = running.get(h.owner, 0) + 1
        seen: dict[str | None, int] = {}
        keyed = []
        for h in sorted(self._queued, key=lambda h: h.seq):
            rank = running.get(h.owner, 0) + seen.get(h.owner, 0)
            seen[h.owner] = seen.get(h.owner, 0) + 1
            keyed.append(((rank, h.seq), h))
        return [h for _, h in sorted(keyed, key=lambda item: item[0])]

    def _pump(self) -> None:
        """Start queued runs while there is room, and tell the rest their place and wait."""
        with self._lock:
            self._running = [h for h in self._running if not h.finished]
            order = self._fair_order()
            while order and len(self._running) < self.max_workers:
                handle = order.pop(0)
                self._queued.remove(handle)
                handle.mark_starting()
                handle.start()
                self._running.append(handle)
            slots = sorted((h.remaining_s(self._rate) for h in self._running), key=lambda r: (r is None, r or 0))
            clock: list[float | None] = [*([0.0] * (self.max_workers - len(slots))), *slots]
            for position, handle in enumerate(order, start=1):
                known = [c for c in clock if c is not None]
                start = min(known) if len(known) == len(clock) and known else None
                with handle._lock:
                    handle._progress.queue_position = position
                    handle._progress.wait_estimate_s = start
                duration = handle.remaining_s(self._rate)
                if start is not None:
                    clock.remove(start)
                    clock.append(None if duration is None else start + duration)

    def _reap_unwatched(self) -> None:
        now = time.monotonic()
        for handle in self.handles():
            if handle.owner is not None and now - handle.last_seen > self.grace_s:
                handle.stop(reason=f"no page of its owner was open for {self.grace_s:.0f} s")

    def _ensure_monitor(self) -> None:
        if self._monitor is None or not self._monitor.is_alive():
            self._monitor = threading.Thread(target=self._watch, name="latent-explorer-runner", daemon=True)
            self._monitor.start()

    def _watch(self) -> None:
        """Starts queued runs, drains events and stops unwatched runs even when no page polls."""
        while not self._closing.wait(self._monitor_interval_s):
            try:
                self._reap_unwatched()
                self._pump()
            except Exception:  # noqa: BLE001 (the monitor must outlive one bad handle)
                traceback.print_exc()
            with self._lock:
                if not self._running and not self._queued:
                    self._monitor = None
                    return

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop every run, wait for them to end, and end the monitor thread."""
        self._closing.set()
        for handle in self.handles():
            handle.stop(reason="the server shut down")
        deadline = time.monotonic() + timeout
        for handle in list(self._running):
            while not handle.finished and time.monotonic() < deadline:
                time.sleep(0.05)
            handle._release(force=True)
        monitor = self._monitor
        if monitor is not None:
            monitor.join(timeout=2)


# --- the local backend: one worker process per run ---------------------------------------------------


class ProcessHandle(QueuedHandle):
    def __init__(self, runner: ProcessRunner, run_id: str, out_dir: Path, spec: RunSpec, args: tuple,
                 owner: str | None, expected_samples: int | None, seq: int) -> None:
        super().__init__(runner, run_id, out_dir, spec, owner, expected_samples, seq)
        self._args = args
        self._ctx = runner.context
        self._events = self._ctx.Queue()
        self._stop = self._ctx.Event()
        self._process = None

    def start(self) -> None:
        runner = self.runner
        self._process = self._ctx.Process(
            target=_worker_main,
            args=(*self._args, runner.worker_threads, runner.memory_bytes, self._events, self._stop),
            name=f"latent-explorer-run-{self.run_id}", daemon=True,
        )
        self._process.start()

    @property
    def started(self) -> bool:
        return self._process is not None

    def _request_stop(self) -> None:
        self._stop.set()

    def _next_event(self) -> tuple[str, dict] | None:
        try:
            return self._events.get_nowait()
        except (queue.Empty, EOFError, OSError, ValueError):  # ValueError: the queue was closed
            return None

    def _lost(self) -> str | None:
        if self._process.is_alive():
            return None
        self._process.join(0)
        return (f"the training process ended unexpectedly (exit code {self._process.exitcode}); "
                "the models saved before it are intact")

    def _cleanup(self, force: bool = False) -> None:
        """Reap the process and close the queue, so that nothing is left behind."""
        if self._process is not None:
            self._process.join(timeout=0 if force else 5)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(timeout=5)
        try:
            self._events.close()
            self._events.join_thread()
        except (OSError, ValueError, AssertionError):
            pass


class ProcessRunner(QueuedRunner):
    """Runs in worker processes on this machine, at most `max_workers` at a time (default: the
    cores); the rest wait in the fair queue."""

    def __init__(self, max_workers: int | None = None, cores: int | None = None,
                 manage_server_threads: bool = True, *, max_queued_per_owner: int = MAX_QUEUED_PER_OWNER,
                 grace_s: float = GRACE_S, memory_bytes: int | None = RUN_MEMORY_BYTES,
                 monitor_interval_s: float = 1.0) -> None:
        self.cores = cores or os.cpu_count() or 1
        super().__init__(max_workers or self.cores, max_queued_per_owner=max_queued_per_owner, grace_s=grace_s,
                         monitor_interval_s=monitor_interval_s)
        self.worker_threads = thread_budget(self.cores, self.max_workers)
        self.memory_bytes = memory_bytes
        self.context = mp.get_context("spawn")  # never fork a process that runs threads
        if manage_server_threads:  # once, here: resizing the pool while other threads compute risks a hang
            import torch

            torch.set_num_threads(max(1, self.cores - self.max_workers * self.worker_threads))

    def _make_handle(self, run_id, out, spec, name, dataset_file, extra, owner, expected_samples, seq):
        args = (spec.to_dict(), str(out), name, dataset_file, extra)
        return ProcessHandle(self, run_id, out, spec, args, owner, expected_samples, seq)


# --- the server's runner -------------------------------------------------------------------------

ENV_MAX_RUNS = "LATENT_EXPLORER_MAX_RUNS"  # runs training at once (default: the cores)
ENV_GRACE_S = "LATENT_EXPLORER_RUN_GRACE_S"  # seconds a run outlives its last open page
ENV_RUN_MEMORY_GB = "LATENT_EXPLORER_RUN_MEMORY_GB"  # one run's memory allowance
ENV_MAX_QUEUED = "LATENT_EXPLORER_MAX_QUEUED"  # runs one user may have waiting
ENV_RAY_ADDRESS = "LATENT_EXPLORER_RAY_ADDRESS"  # a Ray cluster to run on ("auto", "ray://head:10001")


def runner_from_env() -> Runner:
    """The runner a server uses: Ray tasks on a cluster when LATENT_EXPLORER_RAY_ADDRESS is set,
    else worker processes here; its limits from the environment (see the ENV_* names)."""
    address = os.environ.get(ENV_RAY_ADDRESS, "").strip()
    limits = {
        "grace_s": env_number(ENV_GRACE_S, GRACE_S),
        "memory_bytes": int(env_number(ENV_RUN_MEMORY_GB, RUN_MEMORY_BYTES / 1024**3) * 1024**3),
        "max_queued_per_owner": int(env_number(ENV_MAX_QUEUED, MAX_QUEUED_PER_OWNER)),
    }
    max_runs = os.environ.get(ENV_MAX_RUNS)
    if address:
        from .ray_runner import RayRunner

        return RayRunner(address, max_workers=int(env_number(ENV_MAX_RUNS, 0)) or None, **limits)
    return ProcessRunner(max_workers=int(env_number(ENV_MAX_RUNS, os.cpu_count() or 1)) if max_runs else None,
                         **limits)
