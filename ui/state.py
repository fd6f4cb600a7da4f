"""Per-session state and process-wide caches shared by the pages."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
import torch

import vae_core as vc

CHECKPOINT_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
DEFAULT_CHECKPOINT = "digits-2d"
APP_ORIGIN = "saved from the Train page"  # only checkpoints marked so may be overwritten from the app
_CURRENT = "current_model_key"
_SESSION_MODELS = "session_models"
_SESSION_DATASETS = "session_datasets"


@dataclass(frozen=True)
class LoadedModel:
    key: str  # unique per weights: derived results are cached under it
    label: str
    checkpoint: vc.Checkpoint

    @property
    def model(self) -> vc.VAE:
        return self.checkpoint.model

    @property
    def config(self) -> vc.ModelConfig:
        return self.checkpoint.config

    @property
    def metadata(self) -> dict:
        return self.checkpoint.metadata


# --- caches (shared by all sessions: never mutate what they return) ---------------------------


@st.cache_resource(max_entries=16, show_spinner="Loading checkpoint…")
def _load_checkpoint(path: str, stamp: str) -> vc.Checkpoint:
    return vc.load_checkpoint(path)


@st.cache_resource(max_entries=4, show_spinner="Loading dataset…")
def _load_dataset(name: str, params_json: str) -> vc.Dataset:
    return vc.load_dataset(name, **json.loads(params_json))


# Parameters a checkpoint may pass back to a loader. Paths are left out on purpose: a checkpoint
# may be uploaded, and must not choose where on this machine data is read from or written to.
_REBUILD_PARAMS = {"n", "seed"}


def add_session_dataset(data: vc.Dataset, upload_id: str) -> vc.Dataset:
    """Keep an uploaded dataset for this session; models trained on it find it by `upload_id`."""
    data = dataclasses.replace(data, params={**data.params, "upload_id": upload_id})
    st.session_state.setdefault(_SESSION_DATASETS, {})[upload_id] = data
    return data


def load_registered_dataset(name: str, params: dict) -> vc.Dataset:
    """A registry dataset through the process-wide cache; raises DatasetError."""
    return _load_dataset(name, json.dumps(params, sort_keys=True))


def load_dataset_for_training(name: str, params: dict) -> vc.Dataset:
    """A registry dataset for a new run; MNIST-format files are downloaded (and verified) when missing."""
    if name not in ("mnist", "fashion-mnist"):
        return load_registered_dataset(name, params)
    try:
        return load_registered_dataset(name, {**params, "download": False})
    except vc.DatasetError:
        vc.load_dataset(name, **params, download=True)  # fetch the files once, then use the shared cache
        return load_registered_dataset(name, {**params, "download": False})


def dataset_for(loaded: LoadedModel) -> vc.Dataset | None:
    """The dataset a model was trained on, or None (with a message) when it can't be loaded here."""
    name = loaded.checkpoint.dataset_name
    params = loaded.checkpoint.dataset_params
    uploaded = st.session_state.get(_SESSION_DATASETS, {}).get(params.get("upload_id"))
    if uploaded is not None:
        data = uploaded
    elif "upload_id" in params:
        st.info("This model was trained on an upload that is not in this session. "
                "Sliders and samples work; pages that need its images do not.")
        return None
    elif name not in vc.DATASETS:
        st.info(f"This model was trained on {name or 'an unknown dataset'!r}, which is not available here.")
        return None
    else:
        rebuild = {k: v for k, v in params.items() if k in _REBUILD_PARAMS}
        if name in ("mnist", "fashion-mnist"):
            rebuild["download"] = False  # a page view never starts a download; the Train page does
        try:
            data = load_registered_dataset(name, rebuild)
        except vc.DatasetError as exc:
            st.error(f"Could not load the dataset {name!r}: {exc}")
            return None
    if data.image_shape != loaded.config.image_shape:
        st.error(f"The dataset's images are {data.image_shape}, the model expects {loaded.config.image_shape}.")
        return None
    return data


@st.cache_resource(max_entries=8, show_spinner="Encoding the test set…")
def encoded_test_set(model_key: str, _model: vc.VAE, _data: vc.Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu, logvar) of the test images."""
    return vc.encode(_model, _data.test_images)


@st.cache_resource(max_entries=8, show_spinner="Scoring the test set…")
def test_reconstruction_errors(model_key: str, _model: vc.VAE, _data: vc.Dataset) -> torch.Tensor:
    """Each test image's reconstruction error (nats): the reference for an anomaly score."""
    return vc.reconstruction_error(_model, _data.test_images)


@st.cache_resource
def _projection_store() -> dict:
    """(model key, method) -> Projection, shared by sessions; filled outside the cache so a long
    t-SNE can report its progress on the page."""
    return {}


def projection(model_key: str, method: str, mu: torch.Tensor) -> vc.Projection:
    store = _projection_store()
    key = (model_key, method)
    if key not in store:
        bar = None
        if method == "tsne":
            bar = st.progress(0.0, text=f"t-SNE of {len(mu):,} points: finding neighbours…")

            def progress(fraction: float) -> None:
                bar.progress(fraction, text=f"t-SNE of {len(mu):,} points: {fraction:.0%} of the iterations")

        result = vc.project_2d(mu.numpy(), method, progress=progress if bar else None)
        if bar is not None:
            bar.empty()
        while len(store) >= 8:
            store.pop(next(iter(store)))
        store[key] = result
    return store[key]


def latent_statistics(model_key: str, model: vc.VAE, data: vc.Dataset | None) -> dict:
    """KL per dimension, active units and aggregate std over the test set (prior-only without data)."""
    if data is None or len(data.test_index) < 2:
        d = model.config.latent_dim
        return {"kl": np.zeros(d), "active": np.ones(d, bool), "std": np.ones(d), "from_data": False}
    return _data_statistics(model_key, model, data)


@st.cache_resource(max_entries=8)
def _data_statistics(model_key: str, _model: vc.VAE, _data: vc.Dataset) -> dict:
    mu, logvar = encoded_test_set(model_key, _model, _data)
    return {
        "kl": vc.kl_per_dim(mu, logvar).numpy(),
        "active": vc.active_units(mu).numpy(),
        "std": vc.aggregate_std(mu, logvar).numpy(),
        "from_data": True,
    }


# --- the session's current model -----------------------------------------------------------


def _session_models() -> dict[str, LoadedModel]:
    return st.session_state.setdefault(_SESSION_MODELS, {})


def add_session_model(checkpoint: vc.Checkpoint, label: str, key: str) -> LoadedModel:
    """Make an in-memory model (trained or uploaded here) the session's current one."""
    loaded = LoadedModel(key=key, label=label, checkpoint=checkpoint)
    _session_models()[key] = loaded
    st.session_state[_CURRENT] = key
    return loaded


def add_uploaded_model(weights: bytes, config_bytes: bytes, filename: str) -> LoadedModel:
    """Validate and adopt an uploaded pair; raises CheckpointError, leaving the current model as is."""
    checkpoint = vc.model_from_bytes(weights, config_bytes)
    digest = hashlib.sha256(weights + config_bytes).hexdigest()[:12]
    return add_session_model(checkpoint, f"uploaded: {filename}", f"upload:{digest}")


def saved_from_app(folder: Path) -> bool:
    """Whether the checkpoint in `folder` was written by the Train page (shipped ones never are)."""
    try:
        return vc.checkpoints.parse_metadata((folder / "config.json").read_bytes()).get("origin") == APP_ORIGIN
    except (vc.CheckpointError, OSError):
        return False


def _disk_options() -> dict[str, vc.CheckpointInfo]:
    return {f"ckpt:{info.name}": info for info in vc.list_checkpoints(CHECKPOINT_DIR)}


def _load_option(key: str, disk: dict[str, vc.CheckpointInfo]) -> LoadedModel | None:
    if key in _session_models():
        return _session_models()[key]
    info = disk.get(key)
    if info is None:
        return None
    stamp = "-".join(str((info.path / f).stat().st_mtime_ns) for f in ("model.safetensors", "config.json"))
    checkpoint = _load_checkpoint(str(info.path), stamp)
    return LoadedModel(key=f"{key}@{stamp}", label=info.name, checkpoint=checkpoint)


def model_picker() -> LoadedModel | None:
    """Sidebar choice of model; loads the default on a first visit. None if nothing can load."""
    adopt_finished_training()
    disk = _disk_options()
    options = {k: f"{info.name}  ({info.summary()})" for k, info in disk.items()}
    options.update({k: m.label for k, m in _session_models().items()})
    if not options:
        st.sidebar.warning("No checkpoints found. Train a model on the Train page.")
        return None
    current = st.session_state.get(_CURRENT)
    if current not in options:
        default = f"ckpt:{DEFAULT_CHECKPOINT}"
        current = default if default in options else next(iter(options))
    keys = list(options)
    chosen = st.sidebar.selectbox(
        "Model", keys, index=keys.index(current), format_func=options.get, help="Checkpoints in checkpoints/ "
        "and models trained or uploaded in this session."
    )
    st.session_state[_CURRENT] = chosen
    try:
        loaded = _load_option(chosen, disk)
    except vc.CheckpointError as exc:
        st.sidebar.error(f"Could not load {chosen}: {exc}")
        return None
    if loaded is not None:
        _sidebar_summary(loaded)
    return loaded


def _sidebar_summary(loaded: LoadedModel) -> None:
    cfg, meta = loaded.config, loaded.metadata
    training = meta.get("training") or {}
    metrics = meta.get("metrics") or {}
    lines = [
        f"**{cfg.arch.upper()}**, latent {cfg.latent_dim}D, images {'×'.join(map(str, cfg.image_shape))}",
        f"dataset **{(meta.get('dataset') or {}).get('name', '?')}**, β = {training.get('beta', 1.0):g}, "
        f"{metrics.get('epochs', training.get('epochs', '?'))} epochs",
    ]
    if "test_loss" in metrics:
        lines.append(
            f"test −ELBO {metrics['test_loss']:.2f} nats (recon {metrics.get('test_recon', float('nan')):.2f}, "
            f"KL {metrics.get('test_kl', float('nan')):.2f})"
        )
    st.sidebar.caption("  \n".join(lines))


def selected_indices() -> dict:
    """Test-set indices picked on one page for use on another: {'start', 'end', 'traverse'}."""
    return st.session_state.setdefault("picked", {})


# --- training on a background thread -------------------------------------------------------

_JOB = "training_job"


def training_job() -> vc.TrainingJob | None:
    return st.session_state.get(_JOB)


def start_training(data: vc.Dataset, model_config: vc.ModelConfig, train_config: vc.TrainConfig) -> None:
    job = training_job()
    if job is not None and job.running:
        raise RuntimeError("a training run is already in progress")
    st.session_state[_JOB] = vc.TrainingJob(data, model_config, train_config).start()
    st.session_state.pop("training_adopted", None)


def adopt_finished_training() -> LoadedModel | None:
    """Once a run has finished, make its model the session's current one (once per run)."""
    job = training_job()
    if job is None or job.running or st.session_state.get("training_adopted") is job:
        return None
    st.session_state["training_adopted"] = job  # also for a failed run, so pages don't wait on it
    if job.model is None:
        return None
    n = len(_session_models()) + 1
    label = (
        f"trained here #{n}: {job.data.name} · {job.model_config.arch} · "
        f"{job.model_config.latent_dim}D · β={job.train_config.beta:g}"
    )
    return add_session_model(job.checkpoint(), label, f"session:{uuid.uuid4().hex}")


# --- the user's own input (an uploaded image or a drawing), for the map, sliders and paths ------

_USER_INPUT = "user_input"


def set_user_input(image: torch.Tensor, source: str, model_key: str) -> None:
    st.session_state[_USER_INPUT] = {"image": image, "source": source, "model_key": model_key}


def user_input(loaded: LoadedModel) -> torch.Tensor | None:
    """The user's encoded-input image if it was made for this model's image shape."""
    entry = st.session_state.get(_USER_INPUT)
    if entry is None or tuple(entry["image"].shape) != loaded.config.image_shape:
        return None
    return entry["image"]
