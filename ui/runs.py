"""Training from the app: a run goes to the server's runner (a worker process), writes its
checkpoint into a fresh folder of the runs folder, and becomes the session's model when it ends.
The run's folder name is kept in the session and the URL (`?run=`), so a reloaded page finds it."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

import vae_core as vc
from ui import caches, url
from ui.session import RUN_PREFIX, choose_model
from vae_core.data.saved import load_saved_dataset, save_dataset
from vae_core.store import DATASET_FILE

_RUN = "run_name"
_ADOPTED = "run_adopted"
APP_ORIGIN = "trained in the app"


def start_run(spec: vc.RunSpec, title: str, uploaded: vc.Dataset | None = None) -> str:
    """Submit a run; returns its folder name. Raises RuntimeError while this session has one going."""
    name, handle = current_run()
    if handle is not None and handle.running:
        raise RuntimeError("a training run of yours is already in progress: stop it or wait for it")
    store = caches.run_store()
    folder = store.new_run_dir(spec.family)
    dataset_file = None
    if uploaded is not None:  # kept beside the model: the worker reads it, and it survives a restart
        dataset_file = save_dataset(uploaded, folder / DATASET_FILE)
    elif spec.resume_from is not None:
        previous = Path(spec.resume_from) / DATASET_FILE
        if previous.is_file():
            dataset_file = save_dataset(load_saved_dataset(previous), folder / DATASET_FILE)
    handle = caches.runner().submit(spec, folder, name=folder.name, dataset_file=dataset_file,
                                    extra_metadata={"origin": APP_ORIGIN, "title": title})
    caches.run_handles()[folder.name] = handle
    st.session_state[_RUN] = folder.name
    st.session_state.pop(_ADOPTED, None)
    url.write("run", folder.name)
    return folder.name


def current_run() -> tuple[str | None, vc.RunHandle | None]:
    """This session's run (also after a reload, through ?run=)."""
    name = st.session_state.get(_RUN)
    if name is None:
        name = url.read("run")
        if name is None or name not in caches.run_handles():
            return None, None
        st.session_state[_RUN] = name
    return name, caches.run_handles().get(name)


def adopted(name: str) -> bool:
    """Whether this session has already taken the run's model (it may have picked another since)."""
    return st.session_state.get(_ADOPTED) == name


def adopt_finished_run() -> None:
    """Once the session's run has written its checkpoint, make it the current model (once per run)."""
    name, handle = current_run()
    if handle is None or adopted(name):
        return
    progress = handle.poll()
    if progress.running:
        return
    st.session_state[_ADOPTED] = name
    url.drop("run")
    if progress.checkpoint and (caches.run_store().path(name) / "config.json").is_file():
        choose_model(RUN_PREFIX + name)
