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
}


def live_figure(progress: vc.RunProgress) -> go.Figure:
    """Per-step training terms (thinned), with the test loss per epoch over them."""
    names = [k for k in progress.terms if k not in ("accuracy",)]
    fig = make_subplots(rows=1, cols=max(1, len(names)), subplot_titles=[TERM_LABELS.get(k, k) for k in names])
    for col, k in enumerate(names, start=1):
        fig.add_trace(go.Scattergl(x=progress.steps, y=progress.terms[k], name=f"{TERM_LABELS.get(k, k)} (train)",
                                   line={"width": 1}, showlegend=False), 1, col)
        test_key = f"test_{k}"
        points = [(e.epoch * progress.steps_per_epoch, e.test[test_key]) for e in progress.epochs
                  if isinstance(e.test.get(test_key), (int, float))]
        if points:
            x, y = zip(*points)
            fig.add_trace(go.Scatter(x=x, y=y, mode="markers+lines", name="test, per epoch",
                                     marker={"color": "#d62728"}, showlegend=col == 1), 1, col)
        fig.update_xaxes(title_text="step", row=1, col=col)
    fig.update_layout(height=300, margin=_MARGIN, legend={"orientation": "h", "y": -0.3})
    return fig


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
