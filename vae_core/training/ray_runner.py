"""Runs as Ray tasks on a cluster, behind the same queue as local runs.

With `LATENT_EXPLORER_RAY_ADDRESS` set (or `--ray-address` on the command line), `runner_from_env`
returns a `RayRunner`: each run is a Ray task given one CPU (and, for `--device cuda` runs or
`auto` on a cluster with GPUs, a fraction of a GPU: small models share one). The admission layer
is the one local runs have (`QueuedRunner`: a limit on runs at once, default the cluster's CPUs;
the fair queue; per-owner limits; stopping runs nobody watches), so a class sees the same queue
whichever backend trains.

A task trains into a temporary folder on its node and sends the checkpoint's files back, which
the server writes into the runs folder with the same checks and atomic writes as a local save:
the cluster needs no access to the runs folder. Progress (steps, epochs) and Stop travel through
a small actor per run. `ray` is optional: nothing here is imported unless a Ray backend is asked
for. API used: ray.init, ray.remote (tasks and actors, `.options(num_cpus, num_gpus, memory)`),
ray.get, ray.wait, ray.put, ray.cancel, ray.kill (docs.ray.io, Ray Core API).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

from .run import RunSpec
from .runner import (
    GRACE_S,
    MAX_QUEUED_PER_OWNER,
    RUN_MEMORY_BYTES,
    QueuedHandle,
    QueuedRunner,
    execute_run,
    scrub_paths,
)

GPU_FRACTION = 0.25  # of one GPU per run: the models here are small
_RPC_TIMEOUT_S = 10.0


class RayUnavailable(RuntimeError):
    """Ray is asked for but not installed, or the cluster can't be reached; the message says which."""


def import_ray():
    try:
        import ray
    except ImportError:
        raise RayUnavailable("a Ray backend was asked for, but ray is not installed "
                             "(pip install ray==2.60.0 on the server and on every node)") from None
    return ray


def _remote_parts():
    """The Ray task and actor, made on first use (so that importing this module needs no ray)."""
    global _PARTS
    if _PARTS is not None:
        return _PARTS
    ray = import_ray()

    @ray.remote(num_cpus=0)
    class RunChannel:
        """Events from a task to the server, and the Stop flag the other way."""

        def __init__(self) -> None:
            self.events: list = []
            self.stop = False

        def put(self, kind: str, payload: dict) -> None:
            self.events.append((kind, payload))

        def take(self) -> list:
            events, self.events = self.events, []
            return events

        def request_stop(self) -> None:
            self.stop = True

        def should_stop(self) -> bool:
            return self.stop

    @ray.remote(max_retries=0)
    def train_task(spec: dict, name: str | None, dataset: bytes | None, extra: dict | None, channel, threads: int):
        """Train on this node; return (the "finished" payload, the checkpoint's files)."""
        import torch

        from vae_core.checkpoints import checkpoint_files  # absolute: this function is shipped by value

        torch.set_num_threads(threads)
        finished: dict = {}
        checked = [0.0, False]

        def emit(kind: str, payload: dict) -> None:
            if kind == "finished":
                finished.update(payload)
            elif kind == "step":
                channel.put.remote(kind, payload)  # fire and forget: steps are many
            else:
                ray.get(channel.put.remote(kind, payload))  # epochs arrive before the task ends

        def should_stop() -> bool:  # asked before every batch: the actor is asked at most twice a second
            now = time.monotonic()
            if now - checked[0] > 0.5:
                checked[0] = now
                checked[1] = ray.get(channel.should_stop.remote())
            return checked[1]

        with tempfile.TemporaryDirectory(prefix="latent-explorer-run-") as tmp:
            dataset_file = None
            if dataset is not None:
                dataset_file = os.path.join(tmp, "dataset.safetensors")
                Path(dataset_file).write_bytes(dataset)
            out = os.path.join(tmp, "checkpoint")
            execute_run(spec, out, name, dataset_file, extra, emit, should_stop)
            files = checkpoint_files(out) if os.path.isdir(out) else {}
        return finished, files

    _PARTS = (RunChannel, train_task)
    return _PARTS


_PARTS = None


class RayHandle(QueuedHandle):
    def __init__(self, runner: RayRunner, run_id, out_dir, spec: RunSpec, name, dataset_file, extra, owner,
                 expected_samples, seq) -> None:
        super().__init__(runner, run_id, out_dir, spec, owner, expected_samples, seq)
        self._name = name
        self._dataset_file = dataset_file
        self._extra = extra
        self._channel = None
        self._task = None
        self._buffer: list = []
        self._delivered = False

    def start(self) -> None:
        ray = self.runner.ray
        channel_cls, train_task = _remote_parts()
        self._channel = channel_cls.remote()
        dataset = Path(self._dataset_file).read_bytes() if self._dataset_file else None
        options: dict = {"num_cpus": 1}
        if self.runner.wants_gpu(self.spec):
            options["num_gpus"] = self.runner.gpu_fraction
        if self.runner.memory_bytes:
            options["memory"] = self.runner.memory_bytes
        self._task = train_task.options(**options).remote(
            self.spec.to_dict(), self._name, None if dataset is None else ray.put(dataset), self._extra,
            self._channel, 1)

    @property
    def started(self) -> bool:
        return self._task is not None

    def _request_stop(self) -> None:
        with contextlib.suppress(Exception):  # the actor may be gone with its node: then so is the run
            self._channel.request_stop.remote()

    def _fetch(self) -> None:
        ray = self.runner.ray
        with contextlib.suppress(Exception):  # a lost actor: the task's own outcome says what happened
            self._buffer.extend(ray.get(self._channel.take.remote(), timeout=_RPC_TIMEOUT_S))

    def _next_event(self) -> tuple[str, dict] | None:
        """Events from the channel; once the task has ended and they are all read, its outcome."""
        if not self.started or self._delivered:
            return None
        if not self._buffer:
            self._fetch()
        if self._buffer:
            return self._buffer.pop(0)
        ready, _ = self.runner.ray.wait([self._task], timeout=0)
        if not ready:
            return None
        self._fetch()  # what it sent just before it ended
        if self._buffer:
            return self._buffer.pop(0)
        self._delivered = True
        return self._collect()

    def _collect(self) -> tuple[str, dict]:
        """The task's result as a "finished" event, its checkpoint written into the runs folder."""
        from ..checkpoints import CheckpointError, install_checkpoint

        try:
            finished, files = self.runner.ray.get(self._task, timeout=_RPC_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 (worker or node lost, task cancelled: one line for the page)
            return "finished", {"status": "failed", "error": scrub_paths(
                f"the training task was lost on the cluster ({type(exc).__name__}); the models saved before it "
                "are intact")[:500]}
        if files:
            try:
                install_checkpoint(self.out_dir, files)
                finished["checkpoint"] = str(self.out_dir)
            except (CheckpointError, OSError) as exc:
                finished = {"status": "failed", "error": f"the checkpoint sent back could not be written: {exc}"}
        else:
            finished["checkpoint"] = None
        return "finished", finished or {"status": "failed", "error": "the training task ended without a result"}

    def _lost(self) -> str | None:
        return None  # a lost task is reported by its outcome (`_collect`)

    def _cleanup(self, force: bool = False) -> None:
        ray = self.runner.ray
        if force and self._task is not None:
            with contextlib.suppress(Exception):
                ray.cancel(self._task, force=True)
        if self._channel is not None:
            with contextlib.suppress(Exception):
                ray.kill(self._channel)


class RayRunner(QueuedRunner):
    """Runs as Ray tasks; `address` is the cluster's ("auto", "ray://host:10001", …), or None to use
    a Ray already initialised in this process (tests start a local one)."""

    def __init__(self, address: str | None = None, *, max_workers: int | None = None,
                 max_queued_per_owner: int = MAX_QUEUED_PER_OWNER, grace_s: float = GRACE_S,
                 memory_bytes: int | None = RUN_MEMORY_BYTES, gpu_fraction: float = GPU_FRACTION,
                 monitor_interval_s: float = 1.0) -> None:
        self.ray = import_ray()
        if not self.ray.is_initialized():
            try:
                self.ray.init(address=address, log_to_driver=False)
            except Exception as exc:  # noqa: BLE001 (connection errors come in many types)
                raise RayUnavailable(f"could not connect to the Ray cluster at {address!r}: {exc}") from None
        resources = self.ray.cluster_resources()
        self.cluster_gpus = float(resources.get("GPU", 0))
        super().__init__(max_workers or max(1, int(resources.get("CPU", 1))),
                         max_queued_per_owner=max_queued_per_owner, grace_s=grace_s,
                         monitor_interval_s=monitor_interval_s)
        self.memory_bytes = memory_bytes
        self.gpu_fraction = gpu_fraction

    def wants_gpu(self, spec: RunSpec) -> bool:
        return spec.device == "cuda" or (spec.device == "auto" and self.cluster_gpus > 0)

    def _make_handle(self, run_id, out, spec, name, dataset_file, extra, owner, expected_samples, seq):
        return RayHandle(self, run_id, out, spec, name, dataset_file, extra, owner, expected_samples, seq)
