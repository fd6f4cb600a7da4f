"""One input taken apart: a test image, a drawing or an upload; its q(z|x) against the prior, z = μ + σ·ε
with ε redrawn, its terms of the bound, the spread of its decodes, and where it lands."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

import vae_core as vc
from ui import anatomy, caches, session, url, widgets
from vae_core.data.user_images import has_light_background, normalize_levels

loaded = widgets.page_header(
    "Anatomy of one input",
    "Pick a test image, draw or upload one: the encoder gives its q(z|x) = N(μ, σ²), a draw z = μ + σ·ε goes "
    "through the decoder, and the input's own reconstruction term, KL and bound are shown. The reconstruction "
    "error doubles as an anomaly score: inputs unlike the training data reconstruct badly.",
)
if loaded is None:
    st.stop()
shape = loaded.config.image_shape
st.caption(f"The current model takes {shape[0]}-channel images of {shape[1]}×{shape[2]} pixels; "
           "your input is cropped to that aspect and resized.")

test_tab, draw_tab, upload_tab = st.tabs(["A test image", "Draw", "Upload an image"])
data = caches.dataset_for(loaded)

with test_tab:
    if data is None:
        st.caption("This model's dataset is not on this server: draw or upload instead.")
    else:
        n_test = len(data.test_index)
        linked = url.read("test")  # a link (e.g. a lesson's step) names the test image to take apart
        if linked is not None and linked.isdigit() and int(linked) < n_test and \
                st.session_state.get("anatomy_linked") != (loaded.key, linked):
            st.session_state["anatomy_linked"] = (loaded.key, linked)
            st.session_state["anatomy_test_index"] = int(linked)
            session.set_user_input(data.test_images[int(linked)], f"test image #{linked}", loaded.key)
        a, b = st.columns([3, 1])
        index = int(a.number_input(f"Test image # (0–{n_test - 1})", 0, n_test - 1, 0, key="anatomy_test_index"))
        chosen = None
        if b.button("Use this one", type="primary", icon=":material/image:"):
            chosen = index
        if b.button("A random one", icon=":material/shuffle:"):
            chosen = int(np.random.default_rng().integers(n_test))
        if chosen is not None:
            session.set_user_input(data.test_images[chosen], f"test image #{chosen}", loaded.key)
            url.write("test", chosen)
            st.session_state["anatomy_linked"] = (loaded.key, str(chosen))


def drawing_canvas(brush: int):
    """The canvas's RGBA pixels, or raises if the optional front-end component can't load here."""
    from streamlit_drawable_canvas import st_canvas

    result = st_canvas(stroke_width=brush, stroke_color="#FFFFFF", background_color="#000000", height=280,
                       width=280, drawing_mode="freedraw", key="canvas", return_image_data=True)
    return None if result is None else result.image_data


with draw_tab:
    left, right = st.columns([1, 2])
    with left:
        brush = st.slider("Brush", 6, 40, 20, key="brush")
        try:
            rgba = drawing_canvas(brush)
            canvas_ok = True
        except Exception as exc:  # noqa: BLE001 (a missing or incompatible component must not break the page)
            st.info(f"The drawing canvas is not available here ({type(exc).__name__}); upload an image instead.")
            canvas_ok = False
    with right:
        st.markdown("Draw light strokes on the dark square, the way MNIST digits look, then encode.")
        if canvas_ok and st.button("Encode the drawing", type="primary", icon=":material/draw:"):
            if rgba is None or rgba[..., :3].max() == 0:
                st.warning("The canvas is empty: draw something first.")
            else:
                try:
                    session.set_user_input(vc.canvas_to_tensor(rgba, shape), "your drawing", loaded.key)
                    url.drop("test")
                except vc.DatasetError as exc:
                    st.error(f"Not encoded: {exc}")
with upload_tab:
    upload = st.file_uploader("One image (PNG, JPEG, BMP, GIF, WebP)", key="input_upload",
                              type=["png", "jpg", "jpeg", "bmp", "gif", "webp"])
    a, b = st.columns(2)
    invert = a.radio("Invert", ["auto", "yes", "no"], horizontal=True,
                     help="Auto inverts pictures with a light background (dark ink on paper).")
    levels = b.radio("Levels", ["normalise", "as uploaded"], horizontal=True,
                     help="Normalise: the background becomes black and the ink white, as in the training data "
                     "(a photo of a digit on grey paper is otherwise mostly grey, and reconstructs badly).")
    if upload is not None and st.button("Encode the image", type="primary", icon=":material/upload:"):
        try:
            image = vc.image_to_tensor(upload.getvalue(), shape, name=upload.name)
        except vc.DatasetError as exc:
            st.error(f"Not encoded (nothing else changed): {exc}")
        else:
            if invert == "yes" or (invert == "auto" and has_light_background(image)):
                image = 1.0 - image
            if levels == "normalise":
                image = normalize_levels(image)
            session.set_user_input(image, upload.name, loaded.key)
            url.drop("test")

x = session.user_input(loaded)
if x is None:
    st.info("Pick a test image, or draw or upload one, then press the button under it.")
    st.stop()

model = loaded.model
family = loaded.family
mu = vc.embed(model, x.unsqueeze(0))
recon = vc.reconstruct(model, x.unsqueeze(0))[0]
error = vc.reconstruction_error(model, x.unsqueeze(0))[0].item()

st.subheader("What the model makes of it")
a, b, c, d = st.columns(4)
a.image(widgets.single_image(x, 160), width=160, caption="your input, as the model sees it", output_format="PNG")
b.image(widgets.single_image(recon, 160), width=160, caption="reconstruction", output_format="PNG")
if family == "vq":
    codes = model.encode(x.unsqueeze(0))[0]
    c.caption("Its grid of code indices (the Codebook page lets you change them):")
    c.dataframe(codes.numpy(), hide_index=True)
else:
    c.caption(f"**{session.user_input_source()}**")
with d:
    st.metric("Reconstruction error (nats)", f"{error:.1f}")
    if data is not None:
        test_err = caches.test_reconstruction_errors(loaded.key, model, data)
        pct = float((test_err < error).float().mean()) * 100
        st.caption(f"Higher than {pct:.0f}% of the test images: "
                   + ("looks like the training data." if pct < 90 else "**unusual for this model** (anomaly)."))
    if family == "m2":
        probs = vc.classify(model, x.unsqueeze(0))[0]
        names = data.label_names if data is not None else [str(k) for k in range(len(probs))]
        st.metric("q(y|x) predicts", names[int(probs.argmax())], f"{float(probs.max()):.0%} sure", delta_color="off")
    values = ", ".join(f"{v:.2f}" for v in mu[0][:8].tolist()) + (" …" if mu.shape[1] > 8 else "")
    st.caption({"vq": "quantised grid = ", "ae": "z = "}.get(family, "μ = ") + values)

if family in ("gaussian", "m2"):  # sliders and paths move a z with a prior
    picked = session.picked()
    b1, b2, b3 = st.columns(3)
    if b1.button("Start the sliders here", icon=":material/tune:"):
        picked["traverse"] = "input"
        st.switch_page("pages/3_Traverse.py")
    if b2.button("Use as interpolation start", icon=":material/first_page:"):
        picked["start"] = "input"
    if b3.button("Use as interpolation end", icon=":material/last_page:"):
        picked["end"] = "input"

st.subheader("Anatomy: encoder → μ, σ → z = μ + σ·ε → decoder")
if not widgets.not_for_family(loaded, "The anatomy of q(z|x)", ("gaussian",),
                              "A VQ-VAE's code is a grid of nearest codebook entries, with no σ to draw from; "
                              "M2's z also depends on the class y (the Classes page shows q(y|x))."):
    anatomy.show(loaded, x)
if family in ("gaussian", "m2"):
    st.subheader("Uncertainty: many draws of z ~ q(z|x)")
    anatomy.uncertainty(model, x)

if data is not None:
    st.subheader("Where it lands on the latent map")
    test_mu = caches.embedded_test_set(loaded.key, model, data)
    method = "pca" if test_mu.shape[1] > 2 else "identity"
    proj = caches.projection(loaded.key, method, test_mu)
    point = proj.transform(mu.numpy())[0]
    labels = data.labels[data.test_index].numpy()
    fig = go.Figure(go.Scattergl(
        x=proj.coords[:, 0], y=proj.coords[:, 1], mode="markers", name="test images",
        text=np.array(data.label_names)[labels], hovertemplate="label %{text}<extra></extra>",
        marker=dict(size=5, opacity=0.5, color=labels, colorscale="Turbo"),
    ))
    fig.add_trace(go.Scatter(x=[point[0]], y=[point[1]], mode="markers", name="your input",
                             marker=dict(size=18, symbol="star", color="black", line=dict(width=2, color="white"))))
    if family == "gaussian" and method == "identity":  # a 2-D model: q(z|x) drawn as its 1σ and 2σ ellipses
        terms, _ = caches.input_anatomy(loaded.key, model, anatomy.input_key(x), x)
        sigma = terms.sigma[0].numpy()
        for k, dash in ((1, "solid"), (2, "dot")):
            fig.add_shape(type="circle", x0=point[0] - k * sigma[0], x1=point[0] + k * sigma[0],
                          y0=point[1] - k * sigma[1], y1=point[1] + k * sigma[1], line={"color": "black", "dash": dash})
        st.caption(f"The ellipses are q(z|x) at 1σ and 2σ (σ = {sigma[0]:.2f}, {sigma[1]:.2f}): every z inside "
                   "them decodes to something like this input.")
    fig.update_layout(height=480, margin={"t": 10, "b": 10, "l": 10, "r": 10},
                      xaxis_title=proj.axis_labels[0], yaxis_title=proj.axis_labels[1])
    st.plotly_chart(fig, key="input_map")
