"""The test set's latent means in 2D; pick a point to see it decoded; the manifold of decoded images."""

import numpy as np
import plotly.colors
import plotly.graph_objects as go
import streamlit as st

import vae_core as vc
from ui import caches, session, url, widgets

loaded = widgets.page_header(
    "Latent map",
    "Each point is one test image placed at its posterior mean μ. Neighbours in latent space decode "
    "to similar images; classes that separate without labels show what the VAE found on its own.",
)
data = widgets.require_dataset(loaded)

family = loaded.family
mu = caches.embedded_test_set(loaded.key, loaded.model, data)  # μ (gaussian, m2) or mean quantised vector (vq)
d = mu.shape[1]
if family == "vq":
    st.caption("A VQ-VAE has no single latent point per image: here each image is its whole grid of quantised "
               "vectors (what the decoder sees), projected. The codebook itself is mapped on the Codebook page.")
c1, c2, c3 = st.columns([1, 1, 2])
with c1:
    if d <= 2:
        method = "identity"
        st.markdown(f"**Projection**: none needed, the latent is {d}D.")
    else:
        url.seed("map_projection", "proj", str, lambda v: v in vc.PROJECTIONS)
        method = st.radio(
            "Projection", vc.PROJECTIONS, horizontal=True, format_func={"pca": "PCA", "tsne": "t-SNE"}.get,
            help="PCA is linear and can be inverted (so the plane can be decoded); t-SNE keeps neighbourhoods.",
            key="map_projection",
        )
        url.write("proj", method)
with c2:
    short = {"reconstruction": "reconstruction error", "neg_elbo": "−ELBO",
             "iwae": "−log p(x), IWAE bound (slow: 64 decodes per image)"}
    anomaly_options = {f"anomaly: {short[k]}": k for k in vc.scores_for(loaded.model)}
    colour_options = ["label", *(["predicted class", "prediction correct"] if family == "m2" else []),
                      *data.factor_names, *anomaly_options]
    colour_by = st.selectbox("Colour by", colour_options, help="Ground-truth factors are available for sprites; "
                             "for an M2 model, the class q(y|x) predicts and whether it is right. An anomaly "
                             "score colours each image by how badly the model explains it (the Anomalies page "
                             "lists the worst).")

try:
    proj = caches.projection(loaded.key, method, mu)
except ValueError as exc:  # e.g. t-SNE on a handful of points
    st.warning(f"{exc}; showing PCA instead.")
    proj = caches.projection(loaded.key, "pca", mu)
n_points = len(data.test_index)
order = np.arange(n_points)
fig = go.Figure()
if colour_by in ("label", "predicted class", "prediction correct"):  # one trace per value: a discrete legend
    labels = data.labels[data.test_index].numpy()
    names = list(data.label_names)
    if colour_by != "label":
        predicted = caches.test_class_probabilities(loaded.key, loaded.model, data).argmax(1).numpy()
        labels = predicted if colour_by == "predicted class" else (predicted != labels).astype(int)
        names = names if colour_by == "predicted class" else ["correct", "wrong"]
        if colour_by != "predicted class":
            st.caption(f"q(y|x) is right on {(labels == 0).mean():.1%} of the test images.")
    palette = plotly.colors.qualitative.Plotly + plotly.colors.qualitative.Dark24
    if colour_by == "prediction correct":
        palette = ["#1f77b4", "#d62728"]
    for v, name in enumerate(names):
        sel = order[labels == v]
        if len(sel):
            fig.add_trace(go.Scattergl(
                x=proj.coords[sel, 0], y=proj.coords[sel, 1], mode="markers", name=name, customdata=sel,
                hovertemplate=f"test #%{{customdata}} · label {name}<extra></extra>",
                marker=dict(size=6, opacity=0.8, color=palette[v % len(palette)]),
            ))
else:
    if colour_by in anomaly_options:
        values = caches.anomaly_scores(loaded.key, loaded.model, data.test_images, "test", anomaly_options[colour_by])
    else:
        values = data.factors[data.test_index, data.factor_names.index(colour_by)].numpy()
    fig.add_trace(go.Scattergl(
        x=proj.coords[:, 0], y=proj.coords[:, 1], mode="markers", customdata=order, text=values,
        hovertemplate=f"test #%{{customdata}} · {colour_by} %{{text:.3g}}<extra></extra>",
        marker=dict(size=6, opacity=0.8, color=values, colorscale="Viridis", showscale=True,
                    colorbar={"title": colour_by.removeprefix("anomaly: ")},
                    # a few extreme scores would squash every other colour: the top 1% share the brightest
                    **({"cmin": float(values.min()), "cmax": float(np.quantile(values, 0.99))}
                       if colour_by in anomaly_options else {})),
    ))
fig.update_layout(
    height=560, margin={"t": 30, "b": 10, "l": 10, "r": 10}, xaxis_title=proj.axis_labels[0],
    yaxis_title=proj.axis_labels[1], legend={"itemsizing": "constant"},
    title=f"{n_points:,} test images" + (
        f" · PCA explains {sum(proj.explained_variance):.0%} of the variance" if proj.explained_variance else ""
    ),
)
def decoded_plane(proj: vc.Projection) -> None:
    """The classic manifold figure: a grid over the 2D plane, decoded."""
    st.markdown("**The decoded plane**")
    if family == "vq":
        st.info("A VQ-VAE decodes grids of discrete codes, not points of this plane; see the Codebook page's atlas.")
        return
    y = None
    if family == "m2":
        y = st.selectbox("Class y for the decoder", range(len(data.label_names)), key="plane_class",
                         format_func=lambda c: data.label_names[c])
    if proj.inverse is None:
        st.info("t-SNE has no inverse map, so its plane can't be decoded. Switch to PCA (or train a 2D latent).")
        return
    n = st.slider("Grid size", 5, 25, 15, key="plane_n")
    if proj.method == "identity":
        lo, hi = (-3.0, -3.0), (3.0, 3.0)
        note = "z₀ and z₁ each from −3 to 3 (the prior's ±3σ), top row = largest z₁."
    else:
        lo = tuple(np.percentile(proj.coords, 2, axis=0))
        hi = tuple(np.percentile(proj.coords, 98, axis=0))
        note = "Over the central 96% of the points on PC1 × PC2, mapped back to latent space by inverse PCA."
    images = vc.decode_plane(loaded.model, proj, vc.plane_grid(lo, hi, n), y)
    st.image(widgets.image_grid(images, ncol=n, target_height=max(28, 520 // n)), caption=note, output_format="PNG")


map_col, plane_col = st.columns([3, 2])
with map_col:
    event = st.plotly_chart(fig, key="latent_map", on_select="rerun", selection_mode=("points", "box", "lasso"))
with plane_col:
    decoded_plane(proj)

points = (event or {}).get("selection", {}).get("points", []) if event else []
# the browser sends the selection: keep only indices of points we drew
chosen = [p["customdata"] for p in points if isinstance(p.get("customdata"), int)
          and not isinstance(p["customdata"], bool) and 0 <= p["customdata"] < n_points]
with c3:
    st.caption("Click a point, or box/lasso-select several (the first is shown). Selected points can start "
               "a traversal or an interpolation.")

# A shared link's test image (?i=) is shown until the user selects on the map.
url.seed("map_linked", "i", int, lambda v: 0 <= v < n_points)
if chosen:
    st.session_state.pop("map_linked", None)
    url.write("i", chosen[0])
elif "map_linked" in st.session_state:
    chosen = [st.session_state["map_linked"]]
else:
    url.drop("i")
if chosen:
    i = chosen[0]
    x = data.test_images[i]
    recon = vc.reconstruct(loaded.model, x.unsqueeze(0))[0]
    st.subheader(f"Test image #{i}" + (f" (and {len(chosen) - 1} more selected)" if len(chosen) > 1 else ""))
    a, b, c, e = st.columns(4)
    a.image(widgets.single_image(x, 160), width=160, caption="original", output_format="PNG")
    b.image(widgets.single_image(recon, 160), width=160, caption="reconstruction", output_format="PNG")
    if family == "vq":
        c.caption("A VQ-VAE's encoder is deterministic: there is no q(z|x) to sample, so no uncertainty image.")
    else:
        _, std = vc.sample_posterior(loaded.model, x, 8, seed=0)
        std_img = (std / std.max().clamp_min(1e-6))
        c.image(widgets.single_image(std_img, 160), width=160,
                caption=f"uncertainty: pixel std over 8 draws of q(z|x) (max {std.max():.2f})", output_format="PNG")
    with e:
        err = vc.reconstruction_error(loaded.model, x.unsqueeze(0))[0].item()
        st.metric("Reconstruction error (nats)", f"{err:.1f}",
                  help="Also an anomaly score: unusual inputs reconstruct badly.")
        values = ", ".join(f"{v:.2f}" for v in mu[i][:8].tolist()) + (" …" if d > 8 else "")
        st.caption(("quantised grid = " if family == "vq" else "μ = ") + values)
        picked = session.picked()
        if st.button("Use as interpolation start"):
            picked["start"] = i
        if st.button("Use as interpolation end"):
            picked["end"] = i
        if st.button("Start the sliders here"):
            picked["traverse"] = i
        if picked:
            st.caption("Picked: " + ", ".join(f"{k} = #{v}" for k, v in picked.items()))

