"""Walk the latent space between two encoded inputs, by a straight line or a great circle."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch
from plotly.subplots import make_subplots

import vae_core as vc
from ui import caches, session, url, widgets
from vae_core.imaging import gif_bytes, to_pil, to_uint8

loaded = widgets.page_header(
    "Interpolate",
    "Encode two images, walk from one μ to the other, decode every step. **lerp** takes the straight "
    "line; **slerp** follows the great circle, keeping the norm between equal-norm endpoints, so the path "
    "stays where a Gaussian prior puts its mass instead of cutting through the low-norm centre.",
)
if loaded is None:
    st.stop()
if widgets.not_for_family(loaded, "Interpolating latent vectors", ("gaussian", "m2"),
                          "Its latent is a grid of discrete codes: there is no straight path between two of them. "
                          "Swap codes position by position on the Codebook page."):
    st.stop()
data = caches.dataset_for(loaded)
if data is None:
    st.stop()

mu, _ = caches.encoded_test_set(loaded.key, loaded.model, data)
n_test = len(data.test_index)
picked = session.picked()
user_x = session.user_input(loaded)


def endpoint(column, which: str, fallback: int):
    """One end of the path: (image, its μ, a caption), from a test index or the user's input."""
    choice = picked.get(which, fallback)
    sources = ["test image"] + (["your input"] if user_x is not None else [])
    use_input = column.radio(f"{which.title()} from", sources, horizontal=True,
                             index=1 if choice == "input" and user_x is not None else 0) == "your input"
    if use_input:
        return user_x, vc.encode(loaded.model, user_x.unsqueeze(0))[0][0], "your input"
    first = choice if isinstance(choice, int) else fallback
    key = f"interp_{which}_{first}"  # a new pick from another page starts the widget there
    url.seed(key, which, int, lambda v: 0 <= v < n_test)
    i = int(column.number_input(f"{which.title()}: test image #", 0, n_test - 1, min(first, n_test - 1), key=key))
    url.write(which, i)
    return data.test_images[i], mu[i], f"{which} #{i}"


c1, c2, c3, c4 = st.columns(4)
x0, z0, caption0 = endpoint(c1, "start", 0)
x1, z1, caption1 = endpoint(c2, "end", 1)
url.seed("interp_steps", "steps", int, lambda v: 2 <= v <= 32)
url.seed("interp_path", "path", str, lambda v: v in vc.INTERPOLATIONS)
steps = c3.slider("Steps", 2, 32, 10, key="interp_steps")
method = c4.radio("Path", list(vc.INTERPOLATIONS), horizontal=True, key="interp_path")
url.write("steps", steps)
url.write("path", method)
st.caption("Tip: pick the endpoints by selecting points on the Latent map page, or encode your own input.")

y = None
if loaded.family == "m2":  # the style moves; the class stays the start's (or one you choose)
    guess = int(vc.classify(loaded.model, x0.unsqueeze(0))[0].argmax())
    y = st.selectbox("Class y along the path", range(len(data.label_names)), index=guess,
                     format_func=lambda c: data.label_names[c], key=f"interp_class_{caption0}")
path = vc.interpolate(z0, z1, steps, method)
frames = vc.decode(loaded.model, path, y)
a, b, c = st.columns([1, 8, 1])
a.image(widgets.single_image(x0, 96), caption=caption0, output_format="PNG")
strip = widgets.image_grid(frames, ncol=steps, target_height=96)
b.image(strip, caption=f"{method}: {steps} decoded steps", width="stretch", output_format="PNG")
c.image(widgets.single_image(x1, 96), caption=caption1, output_format="PNG")

scale = max(1, 192 // frames.shape[-2])


def animation() -> bytes:  # built only when the button is pressed, not on every rerun
    return gif_bytes([to_pil(to_uint8(f), scale) for f in frames])


d1, d2, _ = st.columns([1, 1, 4])
d1.download_button("Strip (PNG)", data=strip, file_name=f"interpolation-{method}.png",
                   mime="image/png", icon=":material/download:", on_click="ignore")
d2.download_button("Animation (GIF)", data=animation, file_name=f"interpolation-{method}.gif",
                   mime="image/gif", icon=":material/animation:", on_click="ignore")

st.subheader("Along the path: norm, prior density, distance to the data")
t = np.linspace(0, 1, steps)
fig = make_subplots(rows=1, cols=3,
                    subplot_titles=("‖z‖", "log N(z; 0, I)", "distance to the nearest encoded test image"))
for k, name in enumerate(vc.INTERPOLATIONS):
    diag = vc.path_diagnostics(vc.interpolate(z0, z1, steps, name), mu)
    for col, key in enumerate(("norm", "log_prior", "nearest"), start=1):
        fig.add_trace(go.Scatter(x=t, y=diag[key].numpy(), mode="lines+markers", name=name, legendgroup=name,
                                 showlegend=col == 1, line={"color": ("#1f77b4", "#ff7f0e")[k]}), 1, col)
radius = float(np.sqrt(loaded.config.latent_dim))
fig.add_hline(y=radius, line_dash="dot", row=1, col=1, annotation_text=f"√D = {radius:.2f}")
fig.update_xaxes(title_text="t")
fig.update_layout(height=320, margin={"t": 30, "b": 10, "l": 10, "r": 10}, legend={"orientation": "h", "y": -0.25})
st.plotly_chart(fig, key="path_plot")
dist = torch.dist(z0, z1).item()
st.caption(f"Endpoints {dist:.2f} apart in {loaded.config.latent_dim} dimensions. √D is the typical norm of a "
           "prior draw. A step far from every encoded image (right) lies in a region the decoder never had to "
           "draw, so its image can be a blend that looks like nothing; a step near the centre has a high prior "
           "density (middle) but, in many dimensions, almost no prior mass around it.")
