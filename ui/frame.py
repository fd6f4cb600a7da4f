"""The navigation frame every page runs in: the page list, the sidebar's model picker (drawn once,
here), and the guard for pages that only apply to some model families.

`app.py` calls `run()`. A page also calls `ensure()` first: on the first request a server process
gets, Streamlit may run a pages/*.py file by itself (its older multipage mode, chosen because a
pages/ folder exists), and `ensure()` then runs the frame around it instead.
"""

from __future__ import annotations

import threading
from pathlib import Path

import streamlit as st

PAGES_DIR = Path(__file__).resolve().parent.parent / "pages"
# file stem -> (title, icon, the families it applies to; None: all)
PAGES = {
    "0_Home": ("Home", ":material/home:", None),
    "1_Train": ("Train", ":material/model_training:", None),
    "2_Latent_Map": ("Latent map", ":material/scatter_plot:", None),
    "3_Traverse": ("Traverse", ":material/tune:", None),
    "4_Interpolate": ("Interpolate", ":material/swap_horiz:", None),
    "5_Your_Input": ("Your input", ":material/draw:", None),
    "6_Codebook": ("Codebook", ":material/grid_view:", ("vq",)),
    "7_Classes": ("Classes", ":material/category:", ("m2",)),
    "8_Compare": ("Compare", ":material/compare:", None),
    "9_Anomalies": ("Anomalies", ":material/crisis_alert:", None),
    "10_Holes": ("AE vs VAE: holes", ":material/blur_on:", None),
    "11_Lessons": ("Lessons", ":material/school:", None),
}
_inside = threading.local()  # each session's script runs in a thread of its own


def run() -> None:
    pages = {stem: st.Page(str(PAGES_DIR / f"{stem}.py"), title=title, icon=icon, default=stem == "0_Home")
             for stem, (title, icon, _) in PAGES.items()}
    current = st.navigation(list(pages.values()))
    stem = next(s for s, p in pages.items() if p is current)
    title, icon, families = PAGES[stem]
    st.set_page_config(page_title=f"{title} · Latent Explorer", page_icon=icon, layout="wide")

    from ui import runs, session, sidebar, widgets  # after the navigation: the frame draws first

    session.remember_owner()
    loaded = sidebar.model_picker()
    runs.keep_alive()
    if families is not None and loaded is not None and loaded.family not in families:
        st.title(title)
        widgets.not_for_family(loaded, f"The {title} page", families,
                               "Pick such a model in the sidebar, or train one on the Train page.")
        st.stop()
    _inside.active = True
    try:
        current.run()
    finally:
        _inside.active = False


def ensure() -> None:
    """Run the frame if this page was started without it (then stop: the frame drew the page)."""
    if getattr(_inside, "active", False):
        return
    run()
    st.stop()
