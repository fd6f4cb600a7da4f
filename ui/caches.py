"""Process-wide caches shared by every session: checkpoints, datasets, encodings, projections, the
runner and the runs folder. Never mutate what they return (no .train(), no optimiser steps)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import streamlit as st
import torch

import vae_core as vc
from ui.session import LoadedModel
from vae_core.data.saved import load_saved_dataset
from vae_core.metrics import normalized_information
from vae_core.store import DATASET_FILE, RunStore, default_runs_dir

CHECKPOINT_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
DEFAULT_CHECKPOINT = "digits-2d"
APP_ORIGIN = "saved from the Train page"  # only checkpoints marked so may be overwritten from the app


@st.cache_resource(max_entries=16, show_spinner="Loading checkpoint…")
def load_checkpoint(path: str, stamp: str) -> vc.Checkpoint:
    return vc.load_checkpoint(path)


def file_stamp(folder: Path) -> str:
    """Changes whenever the checkpoint in `folder` is rewritten: part of every cache key."""
    return "-".join(str((folder / f).stat().st_mtime_ns) for f in ("model.safetensors", "config.json"))


@st.cache_resource
def runner() -> vc.Runner:
    """The one runner of this server (its limits from the environment: vae_core.runner_from_env).
    Made once per server, which is also when files left by a killed save are cleaned up."""
    for root in (CHECKPOINT_DIR, default_runs_dir()):
        vc.checkpoints.clean_leftovers(root)
    return vc.runner_from_env()


@st.cache_resource
def run_handles() -> dict[str, vc.RunHandle]:
    """Runs started on this server, by run folder name, so that a reloaded page can find its run."""
    return {}


def run_store() -> RunStore:
    root = default_runs_dir()
    root.mkdir(parents=True, exist_ok=True)
    return RunStore(root)


@st.cache_resource(max_entries=4, show_spinner="Loading dataset…")
def _load_dataset(name: str, params_json: str) -> vc.Dataset:
    return vc.load_dataset(name, **json.loads(params_json))


@st.cache_resource(max_entries=4, show_spinner="Loading dataset…")
def _load_saved(path: str, stamp: int) -> vc.Dataset:
    return load_saved_dataset(path)


# Parameters a checkpoint may pass back to a loader. Paths are left out on purpose: a checkpoint
# may be uploaded, and must not choose where on this machine data is read from or written to.
_REBUILD_PARAMS = {"n", "seed"}


def safe_params(params: dict) -> dict:
    """The dataset parameters a checkpoint may pass on: never a path (it may have been uploaded)."""
    return {k: v for k, v in params.items() if k in _REBUILD_PARAMS}


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
    saved = loaded.path / DATASET_FILE if loaded.path is not None else None
    if saved is not None and saved.is_file():
        try:
            data = _load_saved(str(saved), saved.stat().st_mtime_ns)
        except vc.DatasetError as exc:
            st.error(f"Could not read the images this model was trained on: {exc}")
            return None
    elif "upload_id" in params:
        st.info("This model was trained on uploaded images that are not kept on this server. "
                "Sliders and samples work; pages that need its images do not.")
        return None
    elif name not in vc.DATASETS:
        st.info(f"This model was trained on {name or 'an unknown dataset'!r}, which is not available here.")
        return None
    else:
        # Viewing needs images of the model's kind, not its exact training draw: every model of a
        # dataset shares one cached copy at the registry's default size, whatever size and seed
        # its checkpoint names (an uploaded one could otherwise make each page build a huge one).
        rebuild = {}
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
def encoded_test_set(model_key: str, _model: vc.LatentModel, _data: vc.Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu, logvar) of the test images (gaussian and m2)."""
    return vc.encode(_model, _data.test_images)


@st.cache_resource(max_entries=8, show_spinner="Embedding the test set…")
def embedded_test_set(model_key: str, _model: vc.LatentModel, _data: vc.Dataset) -> torch.Tensor:
    """One continuous vector per test image, for any family."""
    return vc.embed(_model, _data.test_images)


@st.cache_resource(max_entries=8, show_spinner="Scoring the test set…")
def test_reconstruction_errors(model_key: str, _model: vc.LatentModel, _data: vc.Dataset) -> torch.Tensor:
    """Each test image's reconstruction error (nats): the reference for an anomaly score."""
    return vc.reconstruction_error(_model, _data.test_images)


@st.cache_resource(max_entries=16, show_spinner="Scoring the images…")
def anomaly_scores(model_key: str, _model: vc.LatentModel, _images: torch.Tensor, images_key: str,
                   score: str) -> np.ndarray:
    """An anomaly score per image (nats; higher = less like the training data). `images_key` names the set."""
    return vc.anomaly_scores(_model, _images, score).numpy()


@st.cache_resource(max_entries=32, show_spinner=False)
def input_anatomy(model_key: str, _model: vc.LatentModel, input_key: str,
                  _x: torch.Tensor) -> tuple[vc.InputTerms, float]:
    """One input's terms of the ELBO (64 draws of z) and its importance-weighted bound: what stays the same
    however often ε is redrawn. `input_key` names the image (a digest of its pixels)."""
    terms = vc.input_terms(_model, _x.unsqueeze(0), samples=64, seed=0)
    return terms, float(vc.iwae_bound(_model, _x.unsqueeze(0), k=vc.IWAE_SAMPLES, seed=0)[0])


@st.cache_resource(max_entries=8, show_spinner="Classifying the test set…")
def test_class_probabilities(model_key: str, _model: vc.LatentModel, _data: vc.Dataset) -> torch.Tensor:
    """q(y|x) of the test images (m2)."""
    return vc.classify(_model, _data.test_images)


@st.cache_resource
def _projection_store() -> tuple[dict, threading.Lock]:
    """(model key, method) -> Projection, shared by sessions; filled outside the cache so a long
    t-SNE can report its progress on the page."""
    return {}, threading.Lock()


def projection(model_key: str, method: str, points: torch.Tensor) -> vc.Projection:
    store, lock = _projection_store()
    key = (model_key, method)
    with lock:
        if key in store:
            return store[key]
    bar = None
    if method == "tsne":
        bar = st.progress(0.0, text=f"t-SNE of {len(points):,} points: finding neighbours…")

        def progress(fraction: float) -> None:
            bar.progress(fraction, text=f"t-SNE of {len(points):,} points: {fraction:.0%} of the iterations")

    result = vc.project_2d(points.numpy(), method, progress=progress if bar else None)
    if bar is not None:
        bar.empty()
    with lock:
        while len(store) >= 8:
            store.pop(next(iter(store)))
        store[key] = result
    return result


def latent_statistics(model_key: str, model: vc.LatentModel, data: vc.Dataset | None) -> dict:
    """KL per dimension, active units and aggregate std over the test set (prior-only without data)."""
    if data is None or len(data.test_index) < 2:
        d = model.latent_space.dim
        return {"kl": np.zeros(d), "active": np.ones(d, bool), "std": np.ones(d), "sigma": None, "from_data": False}
    return _data_statistics(model_key, model, data)


@st.cache_resource(max_entries=8)
def _data_statistics(model_key: str, _model: vc.LatentModel, _data: vc.Dataset) -> dict:
    mu, logvar = encoded_test_set(model_key, _model, _data)
    return {
        "kl": vc.kl_per_dim(mu, logvar).numpy(),
        "active": vc.active_units(mu).numpy(),
        "var": mu.var(dim=0).numpy(),
        "std": vc.aggregate_std(mu, logvar).numpy(),
        "sigma": torch.exp(0.5 * logvar).mean(dim=0).numpy(),  # the posterior's mean σ per dimension
        "from_data": True,
    }


def saved_metadata(folder: Path) -> dict | None:
    """The config of the checkpoint in `folder`, or None when there is none that reads."""
    try:
        return vc.checkpoints.read_metadata(folder)
    except (vc.CheckpointError, OSError):
        return None


def may_overwrite(folder: Path, owner: str) -> str | None:
    """Why the checkpoint in `folder` can't be replaced by `owner` (None: it may be). Shipped
    checkpoints never are; one saved from the app only by whoever saved it."""
    meta = saved_metadata(folder)
    if meta is None or meta.get("origin") != APP_ORIGIN:
        return f"{folder.name!r} is a shipped checkpoint and is never overwritten"
    if meta.get("owner") != owner:
        return f"{folder.name!r} was saved by someone else on this server; only they may replace it"
    return None


@st.cache_resource(max_entries=8)
def factor_information(model_key: str, _model: vc.LatentModel, _data: vc.Dataset) -> np.ndarray | None:
    """I(z_d; factor)/H(factor) over the test set's posterior means, (D, K); None without factors."""
    if _data.factor_classes is None or _model.latent_space.kind != "continuous":
        return None
    mu = embedded_test_set(model_key, _model, _data).double().numpy()
    return normalized_information(mu, _data.factor_classes[_data.test_index].numpy())


def best_factor(info: np.ndarray | None, names: tuple[str, ...], dim: int) -> str:
    """'pos_x 0.62' for the factor a dimension tells most about ('' without factors or below 0.05)."""
    if info is None:
        return ""
    k = int(np.argmax(info[dim]))
    return f"{names[k]} {info[dim, k]:.2f}" if info[dim, k] >= 0.05 else ""


EMPTY_PIXEL = 0.5  # a decoded image with no pixel above this is empty


@st.cache_resource(max_entries=16)
def decodes_empty(model_key: str, _model: vc.LatentModel, y: int | None = None) -> bool:
    """Whether z = 0 (the prior's mean) decodes to an empty image (continuous latents only)."""
    if _model.latent_space.kind == "codebook":
        return False
    z = torch.zeros(1, _model.latent_space.dim)
    return bool(vc.decode(_model, z, y).max() <= EMPTY_PIXEL)
