"""Posterior collapse, said on every page that shows the model and while a run trains, with the usual
remedies one click away (each starts a new run with the model's settings and that one change)."""

from __future__ import annotations

import streamlit as st

import vae_core as vc
from ui import caches, runs
from ui.session import LoadedModel
from vae_core.training.run import model_settings


def collapse_of(loaded: LoadedModel) -> vc.Collapse | None:
    """From the model's final test metrics, else its last recorded epoch; None when it has neither."""
    metrics = loaded.metadata.get("metrics") or {}
    kl, var = metrics.get("test_kl_per_dim"), metrics.get("test_mu_var")
    if not kl and loaded.checkpoint.history:
        last = loaded.checkpoint.history[-1]
        kl, var = last.test.get("test_kl_per_dim") or last.kl_per_dim, last.test.get("test_mu_var")
    return vc.collapse_of(kl, var) if kl else None


def _training(loaded: LoadedModel) -> dict:
    training = dict(loaded.metadata.get("training") or {})
    training.pop("family", None)
    return training


def remedy_spec(loaded: LoadedModel, remedy: str) -> vc.RunSpec:
    """The loaded model's run again, from scratch, with `remedy` applied."""
    model, training = vc.apply_remedy(remedy, model_settings(loaded.config), _training(loaded))
    return vc.RunSpec(dataset=loaded.checkpoint.dataset_name or "",
                      dataset_params=caches.safe_params(loaded.checkpoint.dataset_params), model=model,
                      training=training)


def say(collapse: vc.Collapse) -> None:
    """The alert itself: a warning when the code is gone, a note when some dimensions are."""
    if collapse.whole:
        st.warning(collapse.message(), icon=":material/warning:")
    elif collapse.some:
        st.caption(f":material/info: {collapse.message()}")


def notice(loaded: LoadedModel | None, where: str) -> None:
    """Name the collapsed dimensions of the loaded model, and offer the remedies that apply."""
    if loaded is None or loaded.family not in ("gaussian", "m2"):
        return
    collapse = collapse_of(loaded)
    if collapse is None or not collapse.some:
        return
    say(collapse)
    remedies = vc.remedies_for(loaded.family, _training(loaded), loaded.config.arch)
    if not remedies or loaded.checkpoint.dataset_name not in vc.DATASETS:
        return
    with st.popover("Retrain with a remedy", icon=":material/healing:"):
        st.caption("A new run with this model's settings and one change; it trains in the background and "
                   "becomes the current model when it ends (the Train page shows it).")
        for name in remedies:
            if st.button(vc.REMEDIES[name], key=f"remedy_{where}_{name}"):
                try:
                    runs.start_run(remedy_spec(loaded, name), f"{loaded.choice.removeprefix('run:')} · {name}")
                except (RuntimeError, OSError, vc.ConfigError, vc.DatasetError) as exc:
                    st.error(f"Not started: {exc}")
                else:
                    st.switch_page("pages/1_Train.py")
