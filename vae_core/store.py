"""The runs folder: models trained or uploaded in the app, kept on disk so they survive a refresh
and a server restart. One folder per run: the checkpoint (and trainer state), the uploaded
dataset it was trained on if any, and the worker's log. Never inside checkpoints/."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from .checkpoints import CONFIG_FILE, WEIGHTS_FILE, CheckpointError, CheckpointInfo, check_name, list_checkpoints

RUNS_ENV = "LATENT_EXPLORER_RUNS"
DATASET_FILE = "dataset.safetensors"
_REPO_ROOT = Path(__file__).resolve().parents[1]


def default_runs_dir() -> Path:
    """$LATENT_EXPLORER_RUNS, else runs/ beside the app."""
    env = os.environ.get(RUNS_ENV)
    return Path(env).expanduser() if env else _REPO_ROOT / "runs"


@dataclass(frozen=True)
class RunStore:
    root: Path

    def new_run_dir(self, kind: str = "run") -> Path:
        """A fresh folder, named by time so that the list reads in order."""
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{kind}-{uuid.uuid4().hex[:6]}"
        path = self.root / name
        path.mkdir(parents=True, exist_ok=False)
        return path

    def list(self) -> list[CheckpointInfo]:
        """Finished runs (a readable checkpoint), newest first."""
        return sorted(list_checkpoints(self.root), key=lambda info: info.name, reverse=True)

    def path(self, name: str) -> Path:
        check_name(name)
        path = self.root / name
        if path.parent.resolve() != self.root.resolve():
            raise CheckpointError(f"{name!r} is not a run in {self.root}")
        return path

    def delete(self, name: str) -> None:
        path = self.path(name)
        if not path.is_dir():
            raise CheckpointError(f"no run named {name!r}")
        if not ((path / WEIGHTS_FILE).exists() or (path / CONFIG_FILE).exists() or (path / "worker.log").exists()):
            raise CheckpointError(f"{name!r} does not look like a run folder; not deleted")
        shutil.rmtree(path)

    def dataset_file(self, name: str) -> Path | None:
        path = self.path(name) / DATASET_FILE
        return path if path.is_file() else None
