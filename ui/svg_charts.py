"""Charts drawn as inline SVG in the page, where a chart library costs the browser too much: the Train
page's live curves (redrawn every 2 s while a run trains: a Plotly redraw took most of a core per
watching tab) and Traverse's KL bars (Plotly took ~40% of the browser's CPU for that page's load)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

import vae_core as vc
from ui.charts import live_panels

_JS = (Path(__file__).with_name("svg_charts.js")).read_text()  # both charts: it draws the one its root names
_CSS = """
.live-curves, .bar-chart { font-family: var(--st-font, sans-serif); color: var(--st-text-color, #31333f); }
.live-curves .panels { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 0.75rem; }
.live-curves svg, .bar-chart svg { width: 100%; height: auto; overflow: visible; }
.live-curves .title { font-size: 12px; font-weight: 600; fill: currentColor; }
.live-curves .tick, .live-curves .axis, .bar-chart .tick, .bar-chart .axis {
  font-size: 10px; fill: currentColor; opacity: 0.7;
}
.live-curves .grid, .bar-chart .grid { stroke: currentColor; stroke-opacity: 0.12; }
.live-curves .legend { display: flex; gap: 1.5rem; font-size: 0.8rem; margin-top: 0.25rem; }
"""
_live = st.components.v2.component(
    "latent_explorer.live_chart", html='<div class="live-curves"></div>', css=_CSS, js=_JS
)
_bars = st.components.v2.component(
    "latent_explorer.bar_chart", html='<div class="bar-chart"></div>', css=_CSS, js=_JS
)


def live_curves(progress: vc.RunProgress, key: str) -> None:
    """One panel per training term of the run so far."""
    _live(key=key, data={"panels": live_panels(progress)})


def bar_chart(labels: list[str], values: list[float], colors: list[str], title: str, y_title: str, unit: str,
              key: str, height: int = 240) -> None:
    """Vertical bars, one per label, each with its value on hover."""
    _bars(key=key, data={"labels": labels, "values": [float(v) for v in values], "colors": colors, "title": title,
                         "y_title": y_title, "unit": unit, "height": height})
