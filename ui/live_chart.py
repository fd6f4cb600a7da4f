"""The Train page's live curves: per-step training terms with the per-epoch test values, drawn as SVG
in the page (a chart library's redraw every second cost the browser most of a core per watching tab)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

import vae_core as vc
from ui.charts import live_panels

_CSS = """
.live-curves { font-family: var(--st-font, sans-serif); color: var(--st-text-color, #31333f); }
.live-curves .panels { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 0.75rem; }
.live-curves svg { width: 100%; height: auto; overflow: visible; }
.live-curves .title { font-size: 12px; font-weight: 600; fill: currentColor; }
.live-curves .tick, .live-curves .axis { font-size: 10px; fill: currentColor; opacity: 0.7; }
.live-curves .grid { stroke: currentColor; stroke-opacity: 0.12; }
.live-curves .legend { display: flex; gap: 1.5rem; font-size: 0.8rem; margin-top: 0.25rem; }
"""
_component = st.components.v2.component(
    "latent_explorer.live_chart", html='<div class="live-curves"></div>', css=_CSS,
    js=(Path(__file__).with_name("live_chart.js")).read_text(),
)


def live_curves(progress: vc.RunProgress, key: str) -> None:
    """One panel per training term of the run so far."""
    _component(key=key, data={"panels": live_panels(progress)})
