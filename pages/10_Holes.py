"""Autoencoder against VAE: both latent maps on one scale, each code's spread against the prior, and
what the decoder draws for prior samples that fall in the holes the data leave."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch
from plotly.subplots import make_subplots

import vae_core as vc
from ui import caches, runs, sidebar, widgets
from vae_core.imaging import display_scale, png_bytes, tile, to_pil
from vae_core.training.run import model_settings

loaded = widgets.page_header(
    "Autoencoder vs VAE: holes",
    "A plain autoencoder is trained on the reconstruction alone; a VAE adds the KL, which pulls its codes "
    "towards the prior N(0, I). Sampling means drawing z from that prior and decoding it: it works only where "
    "the prior's mass meets the data's codes. Where the prior puts mass that no input reaches, there is a hole.",
)
labels, infos = sidebar.model_options()


def family_of(choice: str) -> str:
    return (infos[choice].metadata.get("model") or {}).get("family", "gaussian")


def dataset_of(choice: str) -> str | None:
    return (infos[choice].metadata.get("dataset") or {}).get("name")


vaes = [c for c in labels if family_of(c) == "gaussian"]
aes = [c for c in labels if family_of(c) == "ae"]
first_vae = loaded.choice if loaded is not None and loaded.choice in vaes else vaes[0]
a, b = st.columns(2)
vae_choice = a.selectbox("VAE", vaes, index=vaes.index(first_vae), format_func=labels.get, key="holes_vae")
alike = [c for c in aes if dataset_of(c) == dataset_of(vae_choice)]
ae_choice = b.selectbox("Autoencoder", alike, format_func=labels.get, key="holes_ae",
                        placeholder="none trained on this dataset yet", index=0 if alike else None)
vae = sidebar.load_choice(vae_choice, labels[vae_choice], infos[vae_choice])
if b.button("Train an autoencoder like this VAE", icon=":material/model_training:",
            help="Same dataset, architecture, widths, latent size and epochs; no KL. It joins the list when done."):
    training = {k: v for k, v in (vae.metadata.get("training") or {}).items() if k in ("epochs", "batch_size", "lr")}
    settings = {**model_settings(vae.config), "family": "ae"}
    settings.pop("decoder_hidden", None)
    spec = vc.RunSpec(dataset=vae.checkpoint.dataset_name or "", model=settings, training=training,
                      dataset_params=caches.safe_params(vae.checkpoint.dataset_params))
    try:
        runs.start_run(spec, f"autoencoder like {vae_choice.removeprefix('run:')}")
    except (RuntimeError, OSError, vc.ConfigError, vc.DatasetError) as exc:
        st.error(f"Not started: {exc}")
    else:
        st.switch_page("pages/1_Train.py")
if ae_choice is None:
    st.info("Train an autoencoder like this VAE (the button above), or pick a VAE of a dataset that has one "
            "(the shipped digits-ae-2d sits beside digits-2d).")
    st.stop()
ae = sidebar.load_choice(ae_choice, labels[ae_choice], infos[ae_choice])
data = caches.dataset_for(vae)
if data is None:
    st.stop()
models = {"VAE": vae, "Autoencoder": ae}
codes = {k: caches.embedded_test_set(m.key, m.model, data) for k, m in models.items()}
dims = {k: c.shape[1] for k, c in codes.items()}

# --- both maps on one scale ---------------------------------------------------------------------
st.subheader("Both maps, one scale, with the prior drawn in")
planes = {k: (c[:, :2] if c.shape[1] >= 2 else torch.cat([c, torch.zeros_like(c)], 1)).numpy()
          for k, c in codes.items()}
reach = float(max(np.abs(p).max() for p in planes.values())) * 1.05
grid = np.linspace(-reach, reach, 120)
prior = np.exp(-0.5 * (grid[None, :] ** 2 + grid[:, None] ** 2)) / (2 * np.pi)
columns = st.columns(2)
labels_test = data.labels[data.test_index].numpy()
for col, (name, plane) in zip(columns, planes.items(), strict=True):
    fig = go.Figure()
    fig.add_trace(go.Histogram2dContour(x=plane[:, 0], y=plane[:, 1], colorscale="Blues", showscale=False,
                                        ncontours=12, contours={"coloring": "fill"}, name="data density",
                                        hoverinfo="skip", opacity=0.7))
    fig.add_trace(go.Contour(x=grid, y=grid, z=prior, showscale=False, name="prior N(0, I)",
                             contours={"coloring": "lines", "start": prior.max() * 0.05, "end": prior.max(),
                                       "size": prior.max() * 0.3},
                             line={"color": "#d62728", "width": 2}, hoverinfo="skip"))
    fig.add_trace(go.Scattergl(x=plane[:, 0], y=plane[:, 1], mode="markers", name="test images",
                               marker={"size": 3, "color": labels_test, "colorscale": "Turbo", "opacity": 0.6}))
    fig.update_layout(height=440, margin={"t": 30, "b": 10, "l": 10, "r": 10}, showlegend=False,
                      title=f"{name}: {models[name].choice}", xaxis={"range": [-reach, reach], "title": "z0"},
                      yaxis={"range": [-reach, reach], "title": "z1", "scaleanchor": "x"})
    col.plotly_chart(fig, key=f"holes_map_{name}")
st.caption("Blue: where the encoded test images lie (their density). Red rings: the prior's density. "
           + ("" if all(d == 2 for d in dims.values()) else "The first two dimensions of each code. "))

# --- each dimension against the prior -----------------------------------------------------------
st.subheader("Each dimension's codes against the prior")
shown = min(6, *dims.values())
fig = make_subplots(rows=2, cols=shown, row_titles=list(models), subplot_titles=[f"z{i}" for i in range(shown)])
xs = np.linspace(-4, 4, 200)
for r, c in enumerate(codes.values(), start=1):
    for i in range(shown):
        fig.add_trace(go.Histogram(x=c[:, i].numpy(), histnorm="probability density", nbinsx=40, showlegend=False,
                                   marker_color="#1f77b4", opacity=0.7), r, i + 1)
        fig.add_trace(go.Scatter(x=xs, y=np.exp(-xs**2 / 2) / np.sqrt(2 * np.pi), mode="lines", showlegend=False,
                                 line={"color": "#d62728"}), r, i + 1)
fig.update_layout(height=420, margin={"t": 40, "b": 10, "l": 10, "r": 10}, bargap=0)
st.plotly_chart(fig, key="holes_marginals")
st.caption("Histograms: the encoded test images per dimension (for the VAE, the means μ). Red: N(0, 1). The VAE's "
           "match it; the autoencoder's sit wherever they fell.")

# --- decoding prior samples ----------------------------------------------------------------------
st.subheader("What the decoder draws for prior samples")
k = 8
columns = st.columns(2)
for col, (name, m) in zip(columns, models.items(), strict=True):
    holes = vc.prior_holes(codes[name], n=2000, seed=0)
    with col:
        st.markdown(f"**{name}**")
        c1, c2 = st.columns(2)
        c1.metric("prior draws in a hole", f"{holes.hole_fraction:.0%}",
                  help=f"farther from every encoded test image than 95% of those images are from their nearest "
                  f"neighbour ({holes.threshold:.2f})")
        c2.metric("data the prior never samples", f"{holes.outside_prior:.0%}",
                  help=f"encoded test images outside the ball that holds 99% of N(0, I) (radius "
                  f"{holes.prior_radius:.2f})")
        scale = display_scale(data.image_shape[-2], 40)
        for title, z in (("deepest in holes", holes.farthest(k)), ("best covered by the data", holes.nearest(k))):
            st.image(png_bytes(to_pil(tile(vc.decode(m.model, z), ncol=k), scale)), output_format="PNG",
                     caption=f"{k} prior draws {title}")
st.caption("A VAE's prior draws in holes decode to blends or smudges; its covered draws look like the data. The "
           "autoencoder leaves most of its data where the prior never samples, so sampling it shows little of "
           "what it learned.")
