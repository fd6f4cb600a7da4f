"""A VQ-VAE's discrete latent: codebook usage, one input's grid of codes (change a code, see the
decode change), every code decoded alone, and the map of the codebook vectors."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

import vae_core as vc
from ui import caches, url, widgets

loaded = widgets.page_header(
    "Codebook",
    "A VQ-VAE encodes an image to a grid of vectors and snaps each one to the nearest of K codebook vectors: "
    "the latent is a grid of discrete code numbers. The decoder only ever sees codebook vectors.",
)
model = loaded.model
space = loaded.space
data = caches.dataset_for(loaded)
if data is None:
    st.stop()


@st.cache_resource(max_entries=8, show_spinner="Encoding the test set to codes…")
def test_codes(model_key: str, _model: vc.LatentModel, _data: vc.Dataset) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([_model.encode(_data.test_images[i : i + 512]) for i in range(0, len(_data.test_index), 512)])


codes = test_codes(loaded.key, model, data)  # (N, h, w)
k = space.codebook_size
counts = torch.bincount(codes.flatten(), minlength=k).double()
p = counts / counts.sum()
nonzero = p[p > 0]
perplexity = float(torch.exp(-(nonzero * nonzero.log()).sum()))

st.subheader("Codebook usage over the test set")
c = st.columns(4)
c[0].metric("Codes", k)
c[1].metric("Used", int((counts > 0).sum()))
c[2].metric("Dead (never chosen)", int((counts == 0).sum()))
c[3].metric("Perplexity", f"{perplexity:.1f}", help="exp(entropy of code usage): K if all codes are used equally, "
            "1 if one code does everything.")
order = torch.argsort(-counts)
usage = go.Figure(go.Bar(x=[f"#{i}" for i in order.tolist()], y=p[order].numpy(),
                         hovertemplate="code %{x}: %{y:.2%} of positions<extra></extra>"))
usage.update_layout(height=240, margin={"t": 10, "b": 10, "l": 10, "r": 10}, yaxis_tickformat=".1%",
                    xaxis={"title": "code (most used first)", "type": "category"})
st.plotly_chart(usage, key="code_usage")

st.subheader("One input's codes: change one and decode again")
n_test = len(data.test_index)
url.seed("codebook_image", "i", int, lambda v: 0 <= v < n_test)
index = int(st.number_input("Test image #", 0, n_test - 1, key="codebook_image"))
url.write("i", index)
x = data.test_images[index]
grid = codes[index].clone()  # (h, w)
h, w = grid.shape
ys, xs = np.mgrid[0:h, 0:w]
cells = go.Figure(go.Scatter(
    x=xs.ravel(), y=ys.ravel(), mode="markers+text", text=[str(v) for v in grid.flatten().tolist()],
    customdata=np.arange(h * w), marker={"symbol": "square", "size": 36, "color": grid.flatten().numpy(),
                                         "colorscale": "Turbo", "cmin": 0, "cmax": k - 1},
    textfont={"color": "white"}, hovertemplate="row %{y}, column %{x}: code %{text}<extra></extra>",
))
cells.update_layout(height=60 + 44 * h, width=60 + 44 * w, margin={"t": 10, "b": 10, "l": 10, "r": 10},
                    yaxis={"autorange": "reversed", "visible": False}, xaxis={"visible": False})
left, middle, right = st.columns([2, 1, 1])
with left:
    event = st.plotly_chart(cells, key="code_grid", on_select="rerun", selection_mode=("points",))
points = (event or {}).get("selection", {}).get("points", []) if event else []
cell = next((pt["customdata"] for pt in points if isinstance(pt.get("customdata"), int)
             and not isinstance(pt["customdata"], bool) and 0 <= pt["customdata"] < h * w), None)
with middle:
    st.image(widgets.single_image(x, 140), caption="original", output_format="PNG")
    st.image(widgets.single_image(torch.sigmoid(model.decode(grid[None]))[0].detach(), 140),
             caption="decoded from its codes", output_format="PNG")
with right:
    if cell is None:
        st.info("Click a cell of the grid to change its code.")
    else:
        r, col = divmod(cell, w)
        new = int(st.number_input(f"New code at row {r}, column {col} (was {int(grid[r, col])})", 0, k - 1,
                                  int(grid[r, col]), key=f"new_code_{index}_{cell}"))
        edited = grid.clone()
        edited[r, col] = new
        with torch.no_grad():
            image = torch.sigmoid(model.decode(edited[None]))[0]
        st.image(widgets.single_image(image, 140), caption=f"with code {new} at ({r}, {col})", output_format="PNG")

st.subheader("Codebook atlas: each code decoded alone")
with torch.no_grad():
    atlas = torch.sigmoid(model.code_atlas())
shown = order[: min(k, 64)]
st.image(widgets.image_grid(atlas[shown], ncol=16, target_height=56), output_format="PNG",
         caption=f"Every grid position set to the same code, most used first ({len(shown)} of {k}): what each code "
         "draws when it fills the picture.")

st.subheader("Map of the codebook vectors")
vectors = model.codebook_vectors().double().numpy()
projection = vc.project_2d(vectors, "pca")
size = 6 + 30 * np.sqrt(p.numpy() / max(float(p.max()), 1e-12))
points_fig = go.Figure(go.Scatter(
    x=projection.coords[:, 0], y=projection.coords[:, 1], mode="markers", text=[f"#{i}" for i in range(k)],
    marker={"size": size, "color": np.where(counts.numpy() > 0, "#1f77b4", "#d62728"), "opacity": 0.7},
    hovertemplate="code %{text}<extra></extra>",
))
points_fig.update_layout(height=420, margin={"t": 10, "b": 10, "l": 10, "r": 10},
                         xaxis_title=projection.axis_labels[0], yaxis_title=projection.axis_labels[1])
st.plotly_chart(points_fig, key="codebook_map")
st.caption("PCA of the K codebook vectors; marker size grows with how often the code is chosen on the test set; "
           "dead codes are red.")
