"""What the Compare page shows per model: disentanglement metrics (saved in the checkpoint, or
computed once per server and shared), its setting in a few words, and traversal strips whose rows
name each dimension's KL and best-matching factor."""

from __future__ import annotations

import threading

import numpy as np
import streamlit as st
import torch

import vae_core as vc
from ui import caches
from ui.session import LoadedModel
from vae_core.metrics import MetricError, check_summary, evaluate_disentanglement, measurable, oracle_for

TRAVERSAL_STEPS = 9
TRAVERSAL_RANGE = 2.5  # ± this many aggregate-posterior σ around the start point


def setting(loaded: LoadedModel) -> str:
    """'β-TCVAE β=6', 'β-VAE β=4', 'FactorVAE γ=35', … from the run's training settings (unset ones
    at the config's defaults)."""
    if loaded.family != "gaussian":
        return loaded.family
    try:
        t = vc.TrainConfig.from_dict(loaded.metadata.get("training") or {})
    except vc.ConfigError:
        return "settings unknown"
    if t.objective == "factor-vae":
        return f"FactorVAE γ={t.gamma:g}"
    if t.objective == "capacity":
        return f"capacity C={t.capacity:g}"
    name = "β-TCVAE" if t.objective == "beta-tcvae" else "β-VAE"
    return f"{name} β={t.beta:g}"


def short_name(loaded: LoadedModel) -> str:
    """The checkpoint's name, or a run's title and start time (its folder name is long)."""
    if not loaded.is_run:
        return loaded.choice
    name = loaded.choice.removeprefix("run:")
    title = loaded.metadata.get("title") or name
    return f"★ {title[:36]} · {name[9:11]}:{name[11:13]}:{name[13:15]}"


def has_factors(loaded: LoadedModel) -> bool:
    return measurable(loaded.family, loaded.checkpoint.dataset_name)


@st.cache_resource
def _metrics_store() -> tuple[dict, threading.Lock]:
    """model key -> metrics summary computed on this server (filled outside the cache, with progress)."""
    return {}, threading.Lock()


def saved_metrics(loaded: LoadedModel) -> dict | None:
    """The metrics recorded in the checkpoint (python -m vae_core.evaluate --save), or computed here before."""
    store, lock = _metrics_store()
    with lock:
        if loaded.key in store:
            return store[loaded.key]
    saved = loaded.metadata.get("disentanglement")
    if saved is None:
        return None
    try:
        return check_summary(saved)
    except MetricError:
        return None  # malformed (e.g. an edited upload): computed again on request


def compute_metrics(loaded: LoadedModel) -> dict:
    """All four metrics with the default protocol (about a minute), with a progress bar; shared by sessions."""
    oracle = oracle_for(loaded.checkpoint.dataset_name)
    bar = st.progress(0.0, text=f"{loaded.choice}: starting")

    def progress(what: str, fraction: float) -> None:
        bar.progress(min(1.0, fraction), text=f"{loaded.choice}: {what}")

    summary = evaluate_disentanglement(loaded.model, oracle, progress=progress).summary()
    bar.empty()
    store, lock = _metrics_store()
    with lock:
        while len(store) >= 32:
            store.pop(next(iter(store)))
        store[loaded.key] = summary
    return summary


def dimension_labels(loaded: LoadedModel, data: vc.Dataset) -> tuple[list[int], list[str]]:
    """Dimensions by KL (highest first) and a label for each: its KL, and the factor it tells most
    about (I/H over the test set) for datasets with factors."""
    stats = caches.latent_statistics(loaded.key, loaded.model, data)
    info = caches.factor_information(loaded.key, loaded.model, data)
    order = [int(i) for i in np.argsort(-stats["kl"], kind="stable")]
    labels = []
    for d in order:
        factor = caches.best_factor(info, data.factor_names, d) if stats["active"][d] else ""
        tag = "" if stats["active"][d] else " · inactive"
        labels.append(f"z{d} · KL {stats['kl'][d]:.2f}" + (f" · {factor}" if factor else "") + tag)
    return order, labels


def traversal_rows(loaded: LoadedModel, data: vc.Dataset, start_index: int, dims: list[int],
                   steps: int = TRAVERSAL_STEPS) -> torch.Tensor:
    """Decoded rows (len(dims) × steps) around an encoded test image, ±2.5 aggregate σ per dimension."""
    stats = caches.latent_statistics(loaded.key, loaded.model, data)
    mu, _ = caches.encoded_test_set(loaded.key, loaded.model, data)
    base = mu[start_index]
    spans = torch.as_tensor(TRAVERSAL_RANGE * np.maximum(stats["std"][dims], 1e-3), dtype=torch.float32)
    t = torch.linspace(-1, 1, steps)
    values = base[dims].unsqueeze(1) + spans.unsqueeze(1) * t  # (len(dims), steps)
    return vc.traversal_grid(loaded.model, base, dims, values)
