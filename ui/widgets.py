"""Small rendering helpers shared by pages."""

from __future__ import annotations

import streamlit as st
import torch

import vae_core as vc
from ui import state
from vae_core.imaging import display_scale, png_bytes, tile, to_pil

# Images go to the browser as PNG bytes: Streamlit would send a PIL image as JPEG, blurring pixels.


def image_grid(images: torch.Tensor, ncol: int, target_height: int = 64) -> bytes:
    """A PNG mosaic of (B, C, H, W) images, enlarged so each is about `target_height` px tall."""
    scale = display_scale(images.shape[-2], target_height)
    return png_bytes(to_pil(tile(images, ncol), scale))


def single_image(image: torch.Tensor, target_height: int = 224) -> bytes:
    """One (C, H, W) image as a crisp, enlarged PNG."""
    return png_bytes(to_pil(vc.imaging.to_uint8(image), display_scale(image.shape[-2], target_height)))


def start_page(title: str, nav_title: str, icon: str, intro: str) -> state.LoadedModel | None:
    """The frame every page shares: page config, the sidebar's model picker, title and intro."""
    st.set_page_config(page_title=f"{nav_title} · Latent Explorer", page_icon=icon, layout="wide")
    loaded = state.model_picker()
    st.title(title)
    st.caption(intro)
    return loaded
