"""Latent Explorer: the navigation frame. Run with `streamlit run app.py`.

Every page runs inside this frame: it draws the sidebar's model picker once, keeps the model in
the URL, and guards the pages that only apply to one model family.
"""

from pathlib import Path

import streamlit as st

st.set_page_config(page_title="Latent Explorer", page_icon=":material/explore:", layout="wide")

# The page files live one folder down: Streamlit runs any pages/*.py on its own (without this frame)
# when it serves the first request of a process, so that folder holds no scripts itself.
PAGES_DIR = Path(__file__).resolve().parent / "pages" / "views"
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
}

pages = {stem: st.Page(str(PAGES_DIR / f"{stem}.py"), title=title, icon=icon, default=stem == "0_Home")
         for stem, (title, icon, _) in PAGES.items()}
current = st.navigation(list(pages.values()))

from ui import sidebar, widgets  # noqa: E402  (after the navigation: the page frame draws first)

loaded = sidebar.model_picker()
stem = next(s for s, p in pages.items() if p is current)
families = PAGES[stem][2]
if families is not None and loaded is not None and loaded.family not in families:
    title, icon, _ = PAGES[stem]
    st.title(title)
    widgets.not_for_family(loaded, f"The {title} page", families,
                           "Pick such a model in the sidebar, or train one on the Train page.")
    st.stop()
current.run()
