"""Plotly figures of a run: the live per-step curves and the per-epoch history of every family."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

import vae_core as vc

_MARGIN = {"t": 40, "b": 10, "l": 10, "r": 10}
TERM_LABELS = {
    "loss": "−ELBO", "recon": "reconstruction", "kl": "KL", "commitment": "commitment",
    "labelled": "labelled bound L", "unlabelled": "unlabelled bound U", "classification": "−log q(y|x)",
    "mi": "index-code MI", "tc": "total correlation", "dimension_kl": "dimension-wise KL",
    "discriminator_loss": "discriminator loss", "discriminator_accuracy": "discriminator accuracy",
    "capacity": "capacity C",
}


def live_panels(progress: vc.RunProgress) -> list[dict]:
    """Per-step training terms (thinned to at most runner.MAX_POINTS), with the test value of each
    epoch over them: one panel per term, as plain lists for the page's SVG chart."""
    names = [k for k in progress.terms if k not in ("accuracy",)] or ["loss"]
    panels = []
    for k in names:
        test = [(e.epoch * progress.steps_per_epoch, e.test[f"test_{k}"]) for e in progress.epochs
                if isinstance(e.test.get(f"test_{k}"), (int, float))]
        panels.append({
            "title": TERM_LABELS.get(k, k),
            "steps": list(progress.steps), "values": _json_numbers(progress.terms.get(k, [])),
            "test_steps": [x for x, _ in test], "test_values": _json_numbers(y for _, y in test),
        })
    return panels


def _json_numbers(values) -> list[float | None]:
    """A diverged run's NaN or inf as null: JSON has no such numbers (the chart leaves those points out)."""
    return [float(v) if v is not None and np.isfinite(v) else None for v in values]


def history_figures(history: list[vc.EpochRecord], family: str) -> list[tuple[str, go.Figure]]:
    """(title, figure) pairs for a finished or running run's per-epoch record."""
    if not history:
        return []
    epochs = [e.epoch for e in history]
    out = []
    terms = [k for k in history[-1].train if k not in ("accuracy",)]
    fig = go.Figure()
    for k in terms:
        label = TERM_LABELS.get(k, k)
        fig.add_trace(go.Scatter(x=epochs, y=[e.train.get(k) for e in history], name=f"{label} (train)",
                                 line={"dash": "dot"}))
        if any(f"test_{k}" in e.test for e in history):
            fig.add_trace(go.Scatter(x=epochs, y=[e.test.get(f"test_{k}") for e in history], name=f"{label} (test)"))
    fig.update_layout(height=320, margin=_MARGIN, xaxis_title="epoch", yaxis_title="per example",
                      legend={"orientation": "h", "y": -0.3})
    out.append(("Loss terms per epoch", fig))

    if family in ("gaussian", "m2") and history[-1].kl_per_dim:
        kl = np.array([e.kl_per_dim for e in history]).T  # (D, epochs)
        heat = go.Figure(go.Heatmap(z=kl, x=epochs, y=[f"z{i}" for i in range(kl.shape[0])], colorscale="Viridis",
                                    colorbar={"title": "KL"},
                                    hovertemplate="epoch %{x} · %{y}: KL %{z:.3f}<extra></extra>"))
        heat.update_layout(height=120 + 14 * kl.shape[0], margin=_MARGIN, xaxis_title="epoch")
        out.append(("KL per dimension over training (train set): a dimension that goes dark has collapsed", heat))
    if any("test_active_units" in e.test for e in history):
        au = go.Figure(go.Scatter(x=epochs, y=[e.test.get("test_active_units") for e in history], mode="lines+markers"))
        au.update_layout(height=260, margin=_MARGIN, xaxis_title="epoch", yaxis_title="active units",
                         yaxis_rangemode="tozero")
        out.append((f"Active units: Var over the test set of E_q[z_d|x] > {vc.ACTIVE_UNIT_THRESHOLD}", au))
    split = kl_split_figure(history)
    if split is not None:
        out.append(("Where the KL goes (test subset): index-code MI + total correlation + dimension-wise KL", split))
    if family == "vq" and any("test_perplexity" in e.test for e in history):
        vq = make_subplots(rows=1, cols=3, subplot_titles=("perplexity", "dead codes", "code usage (last epoch)"))
        vq.add_trace(go.Scatter(x=epochs, y=[e.test.get("test_perplexity") for e in history], showlegend=False), 1, 1)
        vq.add_trace(go.Scatter(x=epochs, y=[e.test.get("test_dead_codes") for e in history], showlegend=False), 1, 2)
        usage = history[-1].test.get("test_code_usage") or []
        vq.add_trace(go.Bar(x=list(range(len(usage))), y=usage, showlegend=False), 1, 3)
        vq.update_layout(height=280, margin=_MARGIN)
        out.append(("Codebook statistics on the test set", vq))
    if family == "m2" and any("test_accuracy" in e.test for e in history):
        acc = go.Figure(go.Scatter(x=epochs, y=[e.test.get("test_accuracy") for e in history], mode="lines+markers"))
        acc.update_layout(height=260, margin=_MARGIN, xaxis_title="epoch", yaxis_title="test accuracy of q(y|x)",
                          yaxis_tickformat=".0%")
        out.append(("Test accuracy of the classifier q(y|x)", acc))
    return out


KL_PARTS = {"test_mi": "index-code MI I(x; z)", "test_tc": "total correlation",
            "test_dimension_kl": "dimension-wise KL"}


def kl_split_figure(history: list[vc.EpochRecord]) -> go.Figure | None:
    """The three parts of the average KL per epoch, stacked, with the closed-form KL over them."""
    rows = [e for e in history if all(k in e.test for k in KL_PARTS)]
    if not rows:
        return None
    epochs = [e.epoch for e in rows]
    fig = go.Figure()
    for key, label in KL_PARTS.items():
        fig.add_trace(go.Scatter(x=epochs, y=[e.test[key] for e in rows], name=label, stackgroup="kl", mode="lines",
                                 hovertemplate=f"epoch %{{x}} · {label}: %{{y:.3f}} nats<extra></extra>"))
    fig.add_trace(go.Scatter(x=epochs, y=[e.test.get("test_kl") for e in rows], name="KL (closed form)",
                             mode="markers", marker={"color": "black", "symbol": "x"}))
    fig.update_layout(height=300, margin=_MARGIN, xaxis_title="epoch", yaxis_title="nats per example",
                      legend={"orientation": "h", "y": -0.3})
    return fig


_LABEL_SPOTS = ("top center", "bottom center", "middle right", "middle left")


def label_positions(points: list[dict], near: float = 0.12) -> list[str]:
    """Where each point's label goes: above it, unless a point within `near` of the plot's width and
    height already has a label there; then below, right or left (models of one β sit close)."""
    def span(key: str) -> float:
        values = [p[key] for p in points]
        return (max(values) - min(values)) or 1.0

    wx, wy = span("kl"), span("recon")
    spots: list[str] = []
    for i, p in enumerate(points):
        taken = {spots[j] for j, q in enumerate(points[:i])
                 if abs(q["kl"] - p["kl"]) < near * wx and abs(q["recon"] - p["recon"]) < near * wy}
        spots.append(next((s for s in _LABEL_SPOTS if s not in taken), _LABEL_SPOTS[0]))
    return spots


def rate_distortion_figure(points: list[dict]) -> go.Figure:
    """KL (rate) against reconstruction (distortion), one point per model, its setting written beside it;
    runs trained on this server (names starting with ★) are drawn apart from shipped and saved models,
    so that a sweep's β = 4 is not mistaken for the shipped one."""
    fig = go.Figure()
    spots = dict(zip((p["name"] for p in points), label_positions(points)))
    groups = (("shipped or saved", "circle", [p for p in points if not p["name"].startswith("★")]),
              ("trained here ★", "star", [p for p in points if p["name"].startswith("★")]))
    for label, symbol, group in groups:
        if not group:
            continue
        fig.add_trace(go.Scatter(
            x=[p["kl"] for p in group], y=[p["recon"] for p in group], mode="markers+text", name=label,
            text=[p["setting"] for p in group], textposition=[spots[p["name"]] for p in group],
            customdata=[p["name"] for p in group],
            hovertemplate="%{customdata}<br>KL %{x:.2f} nats<br>reconstruction %{y:.2f} nats<extra></extra>",
            marker={"size": 12 if symbol == "circle" else 15, "symbol": symbol},
        ))
    fig.update_layout(height=360, margin=_MARGIN, xaxis_title="rate: KL(q(z|x) ‖ p(z)), nats",
                      yaxis_title="distortion: −E log p(x|z), nats", title="Rate–distortion (test set)",
                      showlegend=len(fig.data) > 1)
    return fig


def mutual_info_figure(mi: np.ndarray, entropy: np.ndarray, factor_names: list[str], title: str) -> go.Figure:
    """Latent × factor mutual information, normalised by each factor's entropy; a marker on each
    cell so that a click selects it (Plotly reports clicks on points, not on heatmap cells)."""
    norm = mi / np.maximum(entropy, 1e-12)
    d, k = norm.shape
    fig = go.Figure(go.Heatmap(z=norm, x=factor_names, y=[f"z{i}" for i in range(d)], zmin=0, zmax=1,
                               colorscale="Viridis", colorbar={"title": "I/H"}, hoverinfo="skip"))
    xs, ys = np.meshgrid(np.arange(k), np.arange(d))
    fig.add_trace(go.Scatter(
        x=[factor_names[i] for i in xs.ravel()], y=[f"z{j}" for j in ys.ravel()], mode="markers",
        marker={"size": 18, "opacity": 0.01, "symbol": "square"}, customdata=ys.ravel(),
        text=[f"{norm[j, i]:.2f}" for i, j in zip(xs.ravel(), ys.ravel())],
        hovertemplate="%{y} · %{x}: I/H = %{text}<extra></extra>", showlegend=False,
    ))
    fig.update_layout(height=120 + 22 * d, margin=_MARGIN, title=title, yaxis={"autorange": "reversed"})
    return fig
