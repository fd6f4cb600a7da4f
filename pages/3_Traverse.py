"""Move one latent dimension at a time and watch the decoded image: disentanglement made visible."""

import numpy as np
import streamlit as st
import torch

import vae_core as vc
from ui import caches, session, url, widgets
from ui.live_decoder import live_sliders
from ui.svg_charts import bar_chart
from vae_core.imaging import display_scale, label_rows, png_bytes, tile, to_pil, traversal_gif

loaded = widgets.page_header(
    "Traverse the latent dimensions",
    "Each slider sets one coordinate of z; the decoder draws the result. Dimensions are listed by their "
    "mean KL over the test set: high-KL dimensions carry information, ~0-KL dimensions have collapsed to "
    "the prior and do nothing. In a disentangled model each active dimension changes one thing.",
)
if loaded is None:
    st.stop()
if widgets.not_for_family(loaded, "Traversing dimensions", ("gaussian", "m2"),
                          "Its latent is a grid of discrete codes: change codes one position at a time on the "
                          "Codebook page instead."):
    st.stop()
data = caches.dataset_for(loaded)
model, d = loaded.model, loaded.space.dim
stats = caches.latent_statistics(loaded.key, model, data)
order = [int(i) for i in np.argsort(-stats["kl"], kind="stable")]

PRIOR, TEST, INPUT = "prior mean (z = 0)", "an encoded test image", "your input"
START_KEY = "traverse_start"
user_x = session.user_input(loaded)
picked = session.picked()
start_options = [PRIOR] + ([TEST] if data is not None else []) + ([INPUT] if user_x is not None else [])
wanted = picked.get("traverse")
prior_empty = caches.decodes_empty(loaded.key, model, y=0 if loaded.family == "m2" else None)
default = (INPUT if wanted == "input" and user_x is not None else TEST if isinstance(wanted, int)
           else TEST if prior_empty and TEST in start_options else PRIOR)
c1, c2 = st.columns(2)
with c1:
    url_index = url.read("i")
    linked = url_index is not None and url_index.isdigit() and TEST in start_options
    if "traverse_from_url" not in st.session_state:  # a shared link's test image, on the first visit only
        st.session_state["traverse_from_url"] = True
        if linked:
            default, wanted = TEST, int(url_index)
    request = (loaded.key, default, wanted)  # a new model, pick or link restarts the choice; else it sticks
    if st.session_state.get("traverse_start_request") != request or st.session_state.get(START_KEY) not in \
            start_options:
        st.session_state["traverse_start_request"] = request
        st.session_state[START_KEY] = default
    start_kind = st.radio("Start from", start_options, key=START_KEY, horizontal=True)
    start_index = None
    if start_kind == TEST:
        n_test = len(data.test_index)
        first = wanted if isinstance(wanted, int) else 0
        start_index = int(st.number_input("Test image #", 0, n_test - 1, min(first, n_test - 1)))
        url.write("i", start_index)
    else:
        url.drop("i")
with c2:
    range_kind = st.radio(
        "Slider range", ["±3", "±3σ of the aggregate posterior"], horizontal=True,
        help="±3 covers the prior; ±3σ covers where the encoded data actually lie in each dimension.",
        disabled=not stats["from_data"],
    )

start_image = data.test_images[start_index] if start_kind == TEST else user_x if start_kind == INPUT else None
if start_kind == PRIOR and prior_empty:
    st.warning("z = 0 decodes to an empty image for this model: the prior's mean is not where its data lie "
               "(common for a β-VAE of sprites, whose images are mostly background). Sliders moved from there "
               "show little; start from an encoded image to see what each dimension does.")
    if TEST in start_options:
        st.button("Start from an encoded test image", icon=":material/image:",
                  on_click=lambda: st.session_state.update({START_KEY: TEST}))
# The posterior's σ: the start image's own, or the test set's mean ("σ̄" loses its bar in the grid's font).
sigma, sigma_tag = stats["sigma"], "mean σ"
if start_kind == TEST:
    mu, logvar = caches.encoded_test_set(loaded.key, model, data)
    base = mu[start_index].clone()
    sigma, sigma_tag = torch.exp(0.5 * logvar[start_index]).numpy(), "σ"
elif start_kind == INPUT:
    encoded = vc.encode(model, user_x.unsqueeze(0))
    base = encoded[0][0]
    sigma, sigma_tag = torch.exp(0.5 * encoded[1][0]).numpy(), "σ"
else:
    base = torch.zeros(d)
y = None
if loaded.family == "m2":  # the decoder draws a style z for a class y
    names = data.label_names if data is not None else [str(c) for c in range(loaded.space.n_classes)]
    guess = int(vc.classify(model, start_image.unsqueeze(0))[0].argmax()) if start_image is not None else 0
    y = st.selectbox("Class y (the sliders move the style z)", range(len(names)), index=guess,
                     format_func=lambda c: names[c], key=f"traverse_class_{start_kind}_{start_index}")
half = np.full(d, 3.0) if range_kind == "±3" else 3.0 * np.maximum(stats["std"], 1e-3)
lo, hi = np.minimum(-half, base.numpy()), np.maximum(half, base.numpy())  # the start point stays reachable

signature = (loaded.key, start_kind, start_index, range_kind, tuple(base.tolist()))
stale = any(f"z{i}" not in st.session_state for i in range(d))  # e.g. dropped when the page was left
if st.session_state.get("traverse_signature") != signature or stale:  # a new start point resets them
    st.session_state["traverse_signature"] = signature
    start = base.tolist()
    try:  # a shared link's slider values, once per session
        linked = url.floats(url.read("z") or "") if "traverse_z_from_url" not in st.session_state else []
    except ValueError:
        linked = []
    st.session_state["traverse_z_from_url"] = True
    if len(linked) == d:
        start = linked
    for i in range(d):
        st.session_state[f"z{i}"] = float(np.clip(start[i], lo[i], hi[i]))


def remember_z() -> None:
    """Keep the slider values in the URL (a callback: it runs before the fragment redraws)."""
    url.write("z", url.format_floats(st.session_state[f"z{i}"] for i in range(d)))


factor_info = caches.factor_information(loaded.key, model, data) if data is not None else None


def slider_label(i: int) -> str:
    tag = "" if stats["active"][i] else " · inactive"
    kl = f" · KL {stats['kl'][i]:.2f}" if stats["from_data"] else ""
    factor = caches.best_factor(factor_info, data.factor_names, i) if factor_info is not None and stats["active"][i] \
        else ""  # an inactive dimension's information about a factor is noise
    spread = f" · {sigma_tag} {sigma[i]:.2f}" if sigma is not None else ""
    return f"z{i}{kl}{spread}" + (f" · {factor}" if factor else "") + tag


@st.fragment
def sliders_and_image():
    left, right = st.columns([3, 2])
    with left:
        shown = order[:16]
        for i in shown:
            st.slider(slider_label(i), float(lo[i]), float(hi[i]), key=f"z{i}", step=0.05, on_change=remember_z)
        if len(order) > 16:
            with st.expander(f"{len(order) - 16} more dimensions (lowest KL)"):
                for i in order[16:]:
                    st.slider(slider_label(i), float(lo[i]), float(hi[i]), key=f"z{i}", step=0.05, on_change=remember_z)
    z = torch.tensor([st.session_state[f"z{i}"] for i in range(d)], dtype=torch.float32)
    with right:
        image = widgets.single_image(vc.decode(model, z.unsqueeze(0), y)[0], 280)
        st.image(image, caption="decoder(z)", output_format="PNG")
        st.caption("z = [" + ", ".join(f"{v:.2f}" for v in z.tolist()[:10]) + (" …]" if d > 10 else "]"))


LIVE_TAB, SERVER_TAB = "Live scrub (decodes in your browser)", "Sliders (kept in the link)"
# Live by default: the image follows a drag and a move costs the server nothing (one server, a whole
# class). A shared link's slider values open where they are kept.
first_tab = st.session_state.setdefault("traverse_first_tab", SERVER_TAB if url.read("z") else LIVE_TAB)
# Only the open tab is built and sent (a switch reruns the page): a page load costs the browser ~1 s less.
live_tab, server_tab = st.tabs([LIVE_TAB, SERVER_TAB], default=first_tab, key="traverse_tab", on_change="rerun")
if server_tab.open:
    with server_tab:
        sliders_and_image()
if live_tab.open:
    with live_tab:
        st.caption("The decoder's weights are sent to the page once; the image then follows a slider while it "
                   "is being dragged, with no round trip to the server."
                   + (" The class y chosen above is built into the decoder that is sent." if y is not None else ""))
        live_sliders(loaded.key, model, base, order, [slider_label(i) for i in order], stats["active"], lo, hi,
                     key="live_decoder", y=y)

if stats["from_data"]:
    st.subheader("KL per dimension")
    colours = ["#1f77b4" if a else "#d62728" for a in stats["active"][order]]
    bar_chart([f"z{i}" for i in order], stats["kl"][order].tolist(), colours, "Mean KL per latent dimension",
              "mean KL (nats)", "nats", key="kl_bars")
    n_active = int(stats["active"].sum())
    st.caption(
        f"{n_active} of {d} dimensions are active: the variance over the test set of E_q[z_d|x] exceeds "
        f"{vc.ACTIVE_UNIT_THRESHOLD} (Burda et al., 2016), the one definition used everywhere here. Inactive ones "
        "are red. Total KL is the sum of the bars."
    )

st.subheader("Traversal grid")
g1, g2 = st.columns(2)
rows = g1.slider("Dimensions (by KL)", 1, d, min(d, 10)) if d > 1 else 1
cols = g2.slider("Values per dimension", 3, 15, 9)
dims = order[:rows]
ranges = torch.as_tensor(half[dims], dtype=torch.float32)[:, None] * torch.linspace(-1.0, 1.0, cols)
grid = vc.traversal_grid(model, base, dims, ranges, y)
grid_labels = [slider_label(i) for i in dims]
scale = display_scale(grid.shape[-2], 48)
st.image(png_bytes(label_rows(to_pil(tile(grid, ncol=cols), scale), grid_labels, width=230)),
         caption="Each row moves one dimension from −range to +range, the others held at the start point.",
         output_format="PNG")
st.download_button("Traversal GIF", lambda: traversal_gif(grid, len(dims), grid_labels, scale),
                   icon=":material/animation:", file_name=f"{loaded.choice.replace(':', '_')}-traversal.gif",
                   mime="image/gif", on_click="ignore",
                   help="Every row animated together, forward then back, as disentanglement_lib writes them")
