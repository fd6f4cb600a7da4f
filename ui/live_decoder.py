"""Traverse sliders that decode in the browser: the image follows the slider while it is dragged."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from vae_core import LatentModel
from vae_core.export import decoder_layers, encode_layers

_JS = (Path(__file__).with_name("live_decoder.js")).read_text()
_CSS = """
.live-root { display: flex; gap: 2rem; align-items: flex-start; font-family: var(--st-font, sans-serif); }
.sliders { flex: 3; display: grid; gap: 0.35rem; }
.sliders label { display: grid; grid-template-columns: 11rem 1fr 3rem; align-items: center; gap: 0.5rem;
  font-size: 0.85rem; color: var(--st-text-color, #31333f); }
.sliders .inactive { opacity: 0.55; }
.sliders input { width: 100%; accent-color: var(--st-primary-color, #ff4b4b); }
.view { flex: 2; text-align: center; }
.view canvas { width: 280px; height: 280px; image-rendering: pixelated; border-radius: 0.5rem; background: #000; }
.timing { font-size: 0.75rem; opacity: 0.7; margin-top: 0.3rem; }
"""
_component = st.components.v2.component(
    "latent_explorer.live_decoder", html='<div class="live-root"></div>', css=_CSS, js=_JS
)


@st.cache_data(max_entries=8, show_spinner=False)
def _packed_layers(model_key: str, _model: LatentModel, y: int | None) -> list[dict]:
    return encode_layers(decoder_layers(_model, y))


def live_sliders(model_key: str, model: LatentModel, start: torch.Tensor, order: list[int], labels: list[str],
                 active: np.ndarray, lo: np.ndarray, hi: np.ndarray, key: str, y: int | None = None) -> None:
    """Sliders (in `order`) and the decoded image, all in the browser; starts at `start` (m2: class y)."""
    start_list = [round(float(v), 4) for v in start.tolist()]
    signature = hashlib.sha1(repr((model_key, y, start_list, lo.tolist(), hi.tolist())).encode()).hexdigest()
    _component(
        key=key,
        data={
            "signature": signature,
            "layers": _packed_layers(model_key, model, y),
            "start": start_list,
            "order": order,
            "labels": labels,
            "active": [bool(active[i]) for i in order],
            "lo": [float(v) for v in lo],
            "hi": [float(v) for v in hi],
        },
    )
