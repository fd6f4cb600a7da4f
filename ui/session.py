"""Per-session state: the current model, picks carried between pages, the user's own input.

The model itself is chosen by the sidebar picker (ui/sidebar.py), whose widget key `MODEL_KEY`
holds the choice; pages read the loaded model with `current_model()`.
"""

from __future__ import annotations

import hashlib
import re
import uuid
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
_OWNER = "owner_id"
_COOKIE_TO_SET = "owner_cookie_to_set"
OWNER_COOKIE = "latent_explorer_owner"
OWNER_COOKIE_AGE_S = 180 * 24 * 3600
_TOKEN_RE = re.compile(r"[0-9a-f]{32}")


def owner_id() -> str:
    """Who this page is, for owning runs and saved models: the signed-in user where the server has a
    login (st.login), else the browser, by a random token kept in a cookie (so a reload is still
    the same owner). A hash: neither an e-mail address nor the token is written into a checkpoint."""
    if _OWNER not in st.session_state:
        who = None
        try:
            if st.user.is_logged_in:
                who = f"user:{st.user.get('email') or st.user.get('sub')}"
        except (AttributeError, KeyError, RuntimeError):  # no login configured on this server
            pass
        if who is None:
            token = st.context.cookies.get(OWNER_COOKIE, "")
            if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):  # absent, or not ours
                token = uuid.uuid4().hex
                st.session_state[_COOKIE_TO_SET] = token
            who = f"browser:{token}"
        st.session_state[_OWNER] = hashlib.sha256(who.encode()).hexdigest()[:16]
    return st.session_state[_OWNER]


def remember_owner() -> None:
    """Set the owner cookie in the browser once, when this session made a new token. The slot is
    drawn on every run, so that the elements after it keep their places (else the page's widgets
    would be drawn anew, twice for a moment, on the next run)."""
    owner_id()
    slot = st.sidebar.empty()
    token = st.session_state.pop(_COOKIE_TO_SET, None)
    if token is not None:
        slot.html(f"<script>document.cookie = '{OWNER_COOKIE}={token}; path=/; max-age={OWNER_COOKIE_AGE_S}; "
                  "SameSite=Strict';</script>", unsafe_allow_javascript=True)


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
