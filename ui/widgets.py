"""Small rendering helpers shared by pages, and widgets built from the config's field metadata."""

from __future__ import annotations

from typing import Any

import streamlit as st
import torch

import vae_core as vc
from ui import caches, collapse, frame
from ui.session import LoadedModel, current_model
from vae_core.imaging import display_scale, png_bytes, tile, to_pil, to_uint8

# Images go to the browser as PNG bytes: Streamlit would send a PIL image as JPEG, blurring pixels.


def image_grid(images: torch.Tensor, ncol: int, target_height: int = 64) -> bytes:
    """A PNG mosaic of (B, C, H, W) images, enlarged so each is about `target_height` px tall."""
    scale = display_scale(images.shape[-2], target_height)
    return png_bytes(to_pil(tile(images, ncol), scale))


def single_image(image: torch.Tensor, target_height: int = 224) -> bytes:
    """One (C, H, W) image as a crisp, enlarged PNG."""
    return png_bytes(to_pil(to_uint8(image), display_scale(image.shape[-2], target_height)))


def page_header(title: str, intro: str) -> LoadedModel | None:
    """Title and intro of a page; returns the model the sidebar loaded (None: nothing could load)."""
    frame.ensure()
    st.title(title)
    st.caption(intro)
    loaded = current_model()
    collapse.notice(loaded, where=title)
    return loaded


def require_dataset(loaded: LoadedModel | None) -> vc.Dataset:
    """The loaded model's dataset; the page stops here (with the reason shown) when there is none."""
    if loaded is None:
        st.stop()
    data = caches.dataset_for(loaded)
    if data is None:
        st.stop()
    return data


def require_model() -> LoadedModel:
    loaded = current_model()
    if loaded is None:
        st.stop()
    return loaded


def not_for_family(loaded: LoadedModel, view: str, families: tuple[str, ...], why: str) -> bool:
    """Say in one sentence why `view` does not apply to this model; True when it doesn't."""
    if loaded.family in families:
        return False
    st.info(f"**{view}** applies to {' and '.join(FAMILY_NAMES[f] for f in families)} models; "
            f"{loaded.choice} is a {FAMILY_NAMES[loaded.family]}. {why}", icon=":material/info:")
    return True


FAMILY_NAMES = {"gaussian": "Gaussian VAE", "vq": "VQ-VAE", "m2": "semi-supervised M2", "ae": "plain autoencoder"}


def param_widget(cls, name: str, key: str, value: Any = None, disabled: bool = False) -> Any:
    """A widget for one hyper-parameter, its bounds, default and help from the config field."""
    p, default = vc.params_of(cls)[name]
    value = default if value is None else value
    if p.choices:
        return st.radio(p.label, p.choices, index=p.choices.index(value), horizontal=True, help=p.help, key=key,
                        disabled=disabled)
    if isinstance(default, int) and not isinstance(default, bool):
        return int(st.number_input(p.label, int(p.lo), int(p.hi), int(value), help=p.help, key=key,
                                   disabled=disabled))
    fmt = "%.2e" if p.log else "%.3f"
    step = float(value) / 10 if p.log and value else 0.05
    return float(st.number_input(p.label, float(p.lo), float(p.hi), float(value), step=step, format=fmt,
                                 help=p.help, key=key, disabled=disabled))
