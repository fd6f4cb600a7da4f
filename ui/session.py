"""Per-session state: the current model, picks carried between pages, the user's own input.

The model itself is chosen by the sidebar picker (ui/sidebar.py), whose widget key `MODEL_KEY`
holds the choice; pages read the loaded model with `current_model()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st
import torch

import vae_core as vc

MODEL_KEY = "model"  # the picker's widget key: "mnist-2d" (shipped) or "run:<folder>" (the runs folder)
RUN_PREFIX = "run:"
_LOADED = "_loaded_model"
_PICKED = "picked"
_USER_INPUT = "user_input"


@dataclass(frozen=True)
class LoadedModel:
    key: str  # unique per weights on disk: derived results are cached under it
    choice: str  # the picker's value (and the URL's ?model=)
    label: str
    checkpoint: vc.Checkpoint
    path: Path | None = None

    @property
    def model(self) -> vc.LatentModel:
        return self.checkpoint.model

    @property
    def config(self) -> vc.ModelConfig:
        return self.checkpoint.config

    @property
    def metadata(self) -> dict:
        return self.checkpoint.metadata

    @property
    def family(self) -> str:
        return self.checkpoint.family

    @property
    def space(self) -> vc.LatentSpace:
        return self.model.latent_space

    @property
    def is_run(self) -> bool:
        return self.choice.startswith(RUN_PREFIX)


def set_current_model(loaded: LoadedModel | None) -> None:
    st.session_state[_LOADED] = loaded


def current_model() -> LoadedModel | None:
    """The model the sidebar loaded for this run of the page."""
    return st.session_state.get(_LOADED)


def choose_model(choice: str) -> None:
    """Make `choice` the picker's value on the next run (before the widget is drawn)."""
    st.session_state[MODEL_KEY] = choice


def picked() -> dict:
    """Test-set indices picked on one page for use on another: {'start', 'end', 'traverse'}."""
    return st.session_state.setdefault(_PICKED, {})


def set_user_input(image: torch.Tensor, source: str, model_key: str) -> None:
    st.session_state[_USER_INPUT] = {"image": image, "source": source, "model_key": model_key}


def user_input(loaded: LoadedModel) -> torch.Tensor | None:
    """The user's encoded-input image if it was made for this model's image shape."""
    entry = st.session_state.get(_USER_INPUT)
    if entry is None or tuple(entry["image"].shape) != loaded.config.image_shape:
        return None
    return entry["image"]


def user_input_source() -> str:
    """What the user's input is ('test image #12', 'your drawing', a file name)."""
    entry = st.session_state.get(_USER_INPUT)
    return "" if entry is None else entry["source"]
