"""Training from the app: a run goes to the server's runner (a worker process), writes its
checkpoint into a fresh folder of the runs folder, and becomes the session's model when it ends.
The run's folder name is kept in the session and the URL (`?run=`), so a reloaded page finds it."""

from __future__ import annotations

import shutil
from pathlib import Path

import streamlit as st

import vae_core as vc
from ui import caches, url
from ui.session import RUN_PREFIX, choose_model, owner_id
from vae_core.data.saved import load_saved_dataset, save_dataset
from vae_core.store import DATASET_FILE

_RUN = "run_name"
_ADOPTED = "run_adopted"
APP_ORIGIN = "trained in the app"
HEARTBEAT_S = 10  # how often an open page tells the runner its runs are watched (grace: 60 s)


def submit(spec: vc.RunSpec, folder: Path, title: str, dataset_file: Path | None = None,
           expected_samples: int | None = None) -> vc.RunHandle:
    """Queue a run owned by this page. Raises AdmissionError (a limit of this user)."""
    handle = caches.runner().submit(spec, folder, name=folder.name, dataset_file=dataset_file,
                                    extra_metadata={"origin": APP_ORIGIN, "title": title, "owner": owner_id()},
                                    owner=owner_id(), expected_samples=expected_samples)
    caches.run_handles()[folder.name] = handle
    return handle


def start_run(spec: vc.RunSpec, title: str, uploaded: vc.Dataset | None = None,
              expected_samples: int | None = None) -> str:
    """Submit a run; returns its folder name. Raises RuntimeError while this session has one going,
    AdmissionError when the server won't take it."""
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
    try:
        submit(spec, folder, title, dataset_file, expected_samples)
    except vc.AdmissionError:
        shutil.rmtree(folder, ignore_errors=True)  # the fresh folder made for it above
        raise
    st.session_state[_RUN] = folder.name
    st.session_state.pop(_ADOPTED, None)
    url.write("run", folder.name)
    return folder.name


def current_run() -> tuple[str | None, vc.RunHandle | None]:
    """This session's run (also after a reload: through ?run=, which adopts it, or as the latest run
    still going of this owner; the page then keeps it alive)."""
    name = st.session_state.get(_RUN)
    if name is None:
        name = url.read("run")
        if name is None or name not in caches.run_handles():
            name = _latest_active_run_of(owner_id())  # the same browser (or user), the link lost ?run=
            if name is None:
                return None, None
        st.session_state[_RUN] = name
        caches.run_handles()[name].owner = owner_id()
    handle = caches.run_handles().get(name)
    if handle is not None:
        handle.touch()
    return name, handle


def _active_runs_of(owner: str) -> dict[str, vc.RunHandle]:
    """The owner's runs that are queued or training, by folder name, oldest first."""
    return {name: h for name, h in caches.run_handles().items() if h.owner == owner and h.poll().running}


def _latest_active_run_of(owner: str) -> str | None:
    return next(reversed(_active_runs_of(owner)), None)


def my_active_runs() -> list[vc.RunHandle]:
    """This page's runs that are queued or training (its own run and its sweeps)."""
    return list(_active_runs_of(owner_id()).values())


def keep_alive() -> None:
    """While this page has runs going: a sidebar line per run, refreshed every few seconds, which
    also tells the runner the page is still open (a closed tab's runs stop after the grace period)."""
    if my_active_runs():
        with st.sidebar:
            _heartbeat()


@st.fragment(run_every=HEARTBEAT_S)
def _heartbeat() -> None:
    caches.runner().touch_owner(owner_id())
    for handle in my_active_runs():
        st.caption(status_line(handle.poll()))


def status_line(p: vc.RunProgress) -> str:
    """'training: 42%, epoch 3 / 10' or 'waiting: place 2 in the queue, about 3 min'."""
    if p.status == "queued":
        wait = "" if p.wait_estimate_s is None else f", about {wait_text(p.wait_estimate_s)}"
        return f"Your run is waiting: place {p.queue_position} in the queue{wait}."
    if p.status == "starting":
        return "Your run is starting…"
    return f"Your run is training: {p.progress:.0%}, epoch {len(p.epochs)} / {p.total_epochs}."


def wait_text(seconds: float) -> str:
    if seconds < 60:
        return "less than a minute"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


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
