"""Anatomy of one input for a Gaussian VAE: q(z|x) = N(μ, σ²) per dimension against the prior, a
resampled ε making z = μ + σ·ε and its decode, the input's own terms of the bound, and the pipeline
drawn with the live numbers on it."""

from __future__ import annotations

import hashlib

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

import vae_core as vc
from ui import caches, widgets
from ui.session import LoadedModel
from vae_core.analysis.collapse import COLLAPSED_KL
from vae_core.imaging import display_scale, gif_bytes, png_bytes, tile, to_pil
from vae_core.models.losses import bernoulli_nll

_DRAW = "anatomy_draw"  # how many times ε was redrawn for this input: the seed of the current ε
MAX_SHOWN_DIMS = 32


def input_key(x: torch.Tensor) -> str:
    """A name for an input image: a digest of its pixels."""
    return hashlib.sha1(x.numpy().tobytes()).hexdigest()[:16]


def posterior_figure(mu: np.ndarray, sigma: np.ndarray, z: np.ndarray, kl: np.ndarray) -> go.Figure:
    """Each dimension's N(μ, σ²) as μ ± σ and ± 2σ bars over the prior's ± 1 and ± 2 bands, with z."""
    d = np.arange(len(mu))
    names = [f"z{i}" for i in d]
    fig = go.Figure()
    for k, shade in ((2, "rgba(150,150,150,0.18)"), (1, "rgba(150,150,150,0.35)")):
        fig.add_trace(go.Bar(x=names, y=[2 * k] * len(d), base=[-k] * len(d), marker_color=shade, width=0.8,
                             name=f"prior N(0, 1): ±{k}", hoverinfo="skip"))
    fig.add_trace(go.Scatter(
        x=names, y=mu, mode="markers", name="q(z|x): μ ± σ", marker={"size": 9, "color": "#1f77b4"},
        error_y={"type": "data", "array": sigma, "thickness": 3, "width": 6},
        customdata=np.stack([sigma, kl], axis=1),
        hovertemplate="%{x}: μ %{y:.2f}, σ %{customdata[0]:.2f}, KL %{customdata[1]:.3f} nats<extra></extra>",
    ))
    fig.add_trace(go.Scatter(x=names, y=z, mode="markers", name="z = μ + σ·ε",
                             marker={"size": 11, "symbol": "x", "color": "#d62728"},
                             hovertemplate="%{x}: z %{y:.2f}<extra></extra>"))
    fig.update_layout(barmode="overlay", height=340, margin={"t": 10, "b": 10, "l": 10, "r": 10},
                      yaxis_title="value", legend={"orientation": "h", "y": -0.2})
    return fig


def kl_figure(kl: np.ndarray) -> go.Figure:
    colors = ["#bbbbbb" if v <= COLLAPSED_KL else "#1f77b4" for v in kl]
    fig = go.Figure(go.Bar(x=[f"z{i}" for i in range(len(kl))], y=kl, marker_color=colors,
                           hovertemplate="%{x}: %{y:.3f} nats<extra></extra>"))
    fig.update_layout(height=220, margin={"t": 10, "b": 10, "l": 10, "r": 10}, yaxis_title="KL (nats)")
    return fig


def pipeline_dot(recon: float, kl: float, mu_norm: float, mean_sigma: float, z_norm: float) -> str:
    """encoder → μ, σ → z = μ + σ·ε → decoder → x̂, with this input's numbers on the arrows."""
    return f"""digraph {{
  rankdir=LR; node [shape=box, style="rounded,filled", fillcolor="#f4f6fb", fontname="sans-serif", fontsize=11];
  edge [fontname="sans-serif", fontsize=10];
  x [label="x\\ninput"]; enc [label="encoder\\nq(z|x)"];
  post [label="μ, σ\\n‖μ‖ = {mu_norm:.2f}\\nmean σ = {mean_sigma:.2f}"];
  eps [label="ε ~ N(0, I)", shape=ellipse, fillcolor="#fff4e0"];
  z [label="z = μ + σ·ε\\n‖z‖ = {z_norm:.2f}", fillcolor="#fde8e8"];
  dec [label="decoder\\np(x|z)"]; xhat [label="x̂"];
  prior [label="prior N(0, I)", shape=ellipse, fillcolor="#eeeeee"];
  x -> enc -> post -> z; eps -> z; z -> dec -> xhat;
  post -> prior [label="KL = {kl:.2f} nats", style=dashed];
  xhat -> x [label="−log p(x|z) = {recon:.2f} nats", style=dashed, constraint=false];
}}"""


def show(loaded: LoadedModel, x: torch.Tensor) -> None:
    """The anatomy panel for input `x` (C, H, W) of a Gaussian VAE."""
    model = loaded.model
    image_key = input_key(x)
    key = f"{loaded.key}:{image_key}"
    draws = st.session_state.setdefault(_DRAW, {})
    draw = draws.get(key, 0)
    terms, iwae = caches.input_anatomy(loaded.key, model, image_key, x)  # the same for every draw of ε
    mu, sigma = terms.mu[0], terms.sigma[0]
    kl = terms.kl_per_dim[0].numpy()
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(1000 + draw))
    z = mu + sigma * eps
    with torch.no_grad():
        logits = model.decode(z.unsqueeze(0))
        recon_z = float(bernoulli_nll(logits, x.unsqueeze(0))[0])
    x_hat = torch.sigmoid(logits)[0]

    st.graphviz_chart(pipeline_dot(recon_z, float(kl.sum()), float(mu.norm()), float(sigma.mean()),
                                   float(z.norm())))
    left, right = st.columns([1, 3])
    with left:
        st.image(widgets.single_image(x_hat, 160), width=160, output_format="PNG",
                 caption=f"x̂ decoded from this z (draw {draw + 1})")
        if st.button("Resample ε", icon=":material/casino:", type="primary", key="resample_eps"):
            draws[key] = draw + 1
            st.rerun()
        st.caption("ε ~ N(0, I) is redrawn; μ and σ stay. Watch the red crosses move inside the blue bars and x̂ "
                   "change: that spread is what the decoder learns to tolerate.")
    with right:
        shown = slice(0, MAX_SHOWN_DIMS)
        st.plotly_chart(posterior_figure(mu.numpy()[shown], sigma.numpy()[shown], z.numpy()[shown], kl[shown]),
                        key="anatomy_posterior")
        if len(mu) > MAX_SHOWN_DIMS:
            st.caption(f"The first {MAX_SHOWN_DIMS} of {len(mu)} dimensions.")

    neg_elbo = float(terms.neg_elbo[0])
    c = st.columns(5)
    c[0].metric("−log p(x|z), this z", f"{recon_z:.2f}", help="the reconstruction term for the z drawn above, nats")
    c[1].metric("E_q[−log p(x|z)]", f"{float(terms.recon[0]):.2f}", help="averaged over 64 draws of z ~ q(z|x)")
    c[2].metric("KL(q(z|x) ‖ p(z))", f"{float(terms.kl[0]):.2f}", help="closed form, summed over the dimensions")
    c[3].metric("−ELBO", f"{neg_elbo:.2f}", help="reconstruction + KL: the loss of this one input, nats")
    c[4].metric(f"−log p(x) ≤ (IWAE, k = {vc.IWAE_SAMPLES})", f"{-iwae:.2f}", f"{neg_elbo + iwae:.2f} tighter",
                delta_color="off", help="the importance-weighted bound (Burda et al., 2016): −IWAE ≤ −ELBO, and "
                "it approaches −log p(x) as k grows")
    st.markdown("**KL per dimension** (grey: collapsed, ≤ 0.01 nats)")
    st.plotly_chart(kl_figure(kl), key="anatomy_kl")

    with st.expander("Animate 16 draws of ε", icon=":material/animation:"):
        frames = _draws_gif(model, mu, sigma, draw, x.shape[-2])
        st.image(frames, caption="x̂ for 16 draws of z = μ + σ·ε", output_format="GIF")


def _draws_gif(model, mu: torch.Tensor, sigma: torch.Tensor, draw: int, height: int) -> bytes:
    gen = torch.Generator().manual_seed(5000 + draw)
    z = mu + sigma * torch.randn((16, len(mu)), generator=gen)
    images = vc.decode(model, z)
    scale = display_scale(height, 160)
    return gif_bytes([to_pil(tile(images[i : i + 1], ncol=1), scale) for i in range(16)], duration_ms=250,
                     bounce=False)


def uncertainty(model: vc.LatentModel, x: torch.Tensor) -> None:
    """Mean and per-pixel std of N decodes of z ~ q(z|x), and the samples themselves."""
    n = st.slider("Draws of z ~ q(z|x)", 4, 64, 16, key="uncertainty_draws")
    samples, std = vc.sample_posterior(model, x, n, seed=0)
    mean = samples.mean(0)
    a, b, c = st.columns([1, 1, 2])
    a.image(widgets.single_image(mean, 140), width=140, caption=f"mean of {n} decodes", output_format="PNG")
    b.image(widgets.single_image(std / std.max().clamp_min(1e-6), 140), width=140, output_format="PNG",
            caption=f"per-pixel std (white = {float(std.max()):.2f})")
    ncol = min(8, n)
    c.image(png_bytes(to_pil(tile(samples, ncol=ncol), display_scale(x.shape[-2], 40))),
            caption=f"the {n} decodes", output_format="PNG")
    st.caption(f"Where the decodes disagree, the model is unsure what the input shows (mean per-pixel std "
               f"{float(std.mean()):.3f}).")
