"""A sweep from the Compare page: one hyper-parameter over a few values × seeds, around a model
already on the page (its architecture, dataset and other settings). The runs go to the server's
runner like any other (queued beyond its limit), are kept in the runs folder, and join the
comparison as they finish, with their disentanglement metrics scored by the run's own worker."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

import streamlit as st

import vae_core as vc
from ui import caches
from ui import runs as run_queue
from ui.session import RUN_PREFIX, LoadedModel
from vae_core.metrics import measurable
from vae_core.training.run import model_settings

_RUNS = "sweep_runs"  # this session's sweep: [(run folder name, title)]
_JOINED = "sweep_joined"
MAX_RUNS = vc.training.runner.MAX_QUEUED_PER_OWNER  # values × seeds one sweep may queue
# The swept field of each objective (one source: the config field's own label, bounds and help).
SWEPT = {"beta-vae": "beta", "beta-tcvae": "beta", "factor-vae": "gamma", "capacity": "capacity"}


@dataclass(frozen=True)
class SweepRun:
    name: str
    title: str


def parse_values(text: str, field: str) -> list[float]:
    """'1, 4, 8' -> [1.0, 4.0, 8.0], each checked against the field's bounds (ConfigError names it)."""
    param, _ = vc.params_of(vc.TrainConfig)[field]
    values = []
    for part in text.replace(";", ",").split(","):
        if not part.strip():
            continue
        try:
            value = float(part)
        except ValueError:
            raise vc.ConfigError(f"{part.strip()!r} is not a number") from None
        if not param.lo <= value <= param.hi:
            raise vc.ConfigError(f"{param.label} must be in [{param.lo:g}, {param.hi:g}], got {value:g}")
        values.append(value)
    if not values:
        raise vc.ConfigError("give at least one value, e.g. 1, 4")
    return list(dict.fromkeys(values))


def specs(base: LoadedModel, objective: str, values: list[float], seeds: int, epochs: int) -> list[tuple]:
    """(RunSpec, title) per value × seed, everything else as `base` was trained."""
    if len(values) * seeds > MAX_RUNS:
        raise vc.ConfigError(f"a sweep runs at most {MAX_RUNS} models; {len(values)} values × {seeds} seeds "
                             f"= {len(values) * seeds}")
    name = base.checkpoint.dataset_name
    if name not in vc.DATASETS:
        raise vc.ConfigError(f"{base.choice} was trained on {name!r}, which this server can't load by name")
    field = SWEPT[objective]
    kept = {k: v for k, v in (base.metadata.get("training") or {}).items() if k in ("batch_size", "lr", "precision")}
    out = []
    for value in values:
        for seed in range(seeds):
            training = {**kept, "objective": objective, field: value, "epochs": epochs, "seed": seed}
            vc.TrainConfig(**training).check_schedule()  # every setting checked before anything is queued
            spec = vc.RunSpec(dataset=name, dataset_params=caches.safe_params(base.checkpoint.dataset_params),
                              model=model_settings(base.config), training=training,
                              measure_disentanglement=measurable(base.family, name))
            label = vc.params_of(vc.TrainConfig)[field][0].label.split(" ")[0]
            out.append((spec, f"sweep {objective} {label}={value:g} seed {seed}"))
    return out


def start(runs: list[tuple], train_images: int | None = None) -> None:
    """Queue every run of the sweep; their folder names are kept in the session. Raises
    AdmissionError when the server takes no more of this user's runs (those queued stay)."""
    store, started = caches.run_store(), []
    try:
        for spec, title in runs:
            folder = store.new_run_dir(spec.family)
            expected = None if train_images is None else train_images * spec.train_config().epochs
            try:
                run_queue.submit(spec, folder, title, expected_samples=expected)
            except vc.AdmissionError:
                shutil.rmtree(folder, ignore_errors=True)  # the fresh folder made for it above
                raise
            started.append(SweepRun(folder.name, title))
    finally:
        st.session_state[_RUNS] = [*st.session_state.get(_RUNS, []), *started]


def runs() -> list[tuple[SweepRun, vc.RunProgress | None]]:
    handles = caches.run_handles()
    return [(r, handles[r.name].poll() if r.name in handles else None) for r in st.session_state.get(_RUNS, [])]


def running() -> bool:
    return any(p is not None and p.running for _, p in runs())


def stop_all() -> None:
    for r, p in runs():
        if p is not None and p.running:
            caches.run_handles()[r.name].stop()


def join_finished(chosen_key: str, limit: int) -> None:
    """Add finished sweep runs to the page's model choice (before its widget is drawn), once each."""
    joined = st.session_state.setdefault(_JOINED, set())
    chosen = list(st.session_state.get(chosen_key, []))
    for r, p in runs():
        if r.name in joined or p is None or p.running:
            continue
        joined.add(r.name)
        if p.status in ("done", "stopped") and p.checkpoint and len(chosen) < limit:
            chosen.append(RUN_PREFIX + r.name)
    st.session_state[chosen_key] = chosen


def progress_line(r: SweepRun, p: vc.RunProgress | None) -> str:
    if p is None:
        return f"{r.title}: not on this server any more"
    if p.status == "queued":
        wait = "" if p.wait_estimate_s is None else f", about {run_queue.wait_text(p.wait_estimate_s)}"
        return f"{r.title}: waiting, place {p.queue_position} in the queue{wait}"
    if p.running and p.progress >= 1:
        return f"{r.title}: trained, now scoring the test set and the disentanglement metrics"
    if p.running:
        return f"{r.title}: {p.progress:.0%}, epoch {len(p.epochs)} / {p.total_epochs}, {p.samples_per_s:,.0f} images/s"
    if p.status == "failed" or (p.status == "stopped" and p.error):
        return f"{r.title}: {p.status} ({p.error})"
    return f"{r.title}: {p.status} after {len(p.epochs)} epoch(s), {p.elapsed:.0f} s"
