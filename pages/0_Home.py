"""Home: what a VAE is, the model loaded, its reconstructions and samples, links to the pages."""

import streamlit as st

from ui import frame

frame.ensure()
st.title("Latent Explorer")
st.markdown(
    "A **variational autoencoder** (VAE) learns to compress an image *x* into a few numbers and back. "
    "The **encoder** maps *x* to a Gaussian *q(z|x) = N(μ, σ²)*; a latent vector is drawn with the "
    "reparameterisation **z = μ + σ·ε**, ε ~ N(0, I), so training can differentiate through the sample; "
    "the **decoder** maps *z* back to pixel probabilities *p(x|z)*. Training maximises the evidence lower bound:"
)
st.latex(
    r"\mathrm{ELBO}(x) = \underbrace{\mathbb{E}_{q(z|x)}[\log p(x|z)]}_{\text{reconstruction}}"
    r" \;-\; \beta\,\underbrace{\mathrm{KL}\big(q(z|x)\,\|\,\mathcal{N}(0, I)\big)}_{\text{rate}}"
)
st.markdown(
    "β = 1 is the plain VAE; β > 1 (a **β-VAE**) presses each dimension towards the prior and often "
    "untangles the factors of variation. A dimension whose KL stays near zero carries no information: "
    "the decoder ignores it (**posterior collapse**). The pages on the left let you see all of this."
)
st.markdown(
    "Two other families share the pages. A **VQ-VAE** replaces the Gaussian by a grid of discrete codes, "
    "each the nearest of K learned codebook vectors: use it when you want the latent to be discrete. "
    "The semi-supervised **M2** adds a class y beside a continuous style z, and learns q(y|x) from a few "
    "labelled images and many unlabelled ones. Pick one in the sidebar, or train one on the Train page."
)


import vae_core as vc  # noqa: E402  (after the intro: it draws while torch loads)
from ui import caches, widgets  # noqa: E402
from ui.session import current_model  # noqa: E402

loaded = current_model()
if loaded is None:
    st.stop()

import torch  # noqa: E402

RECON_CAPTION = {
    "gaussian": "Top: test images. Bottom: decoded from their posterior means μ.",
    "vq": "Top: test images. Bottom: decoded from their nearest codebook vectors.",
    "m2": "Top: test images. Bottom: decoded from μ of q(z|x, y) with the class y that q(y|x) predicts.",
    "ae": "Top: test images. Bottom: decoded from their codes z (a deterministic encoder).",
}
SAMPLE_CAPTION = {
    "gaussian": "z ~ N(0, I), decoded. Gaps in the learned latent space show up as odd samples.",
    "vq": "Codes drawn independently per grid position from their frequencies in the training set: "
    "without an autoregressive prior, samples look like patchwork.",
    "m2": "z ~ N(0, I) and a random class y, decoded.",
    "ae": "z ~ N(0, I), decoded: a prior the autoencoder never learned, so most of these miss its codes "
    "(the AE vs VAE page shows where).",
}
METRIC_LABELS = {
    "test_loss": "Test −ELBO (nats)", "test_recon": "Reconstruction (nats)", "test_kl": "KL (nats)",
    "test_perplexity": "Codebook perplexity", "test_dead_codes": "Dead codes", "test_accuracy": "Test accuracy",
}

left, right = st.columns(2)
data = caches.dataset_for(loaded)
family = loaded.family
with left:
    st.subheader("Reconstructions")
    if data is not None:
        originals = data.images[data.test_index[:8]]
        recon = vc.reconstruct(loaded.model, originals)
        st.image(widgets.image_grid(torch.cat([originals, recon]), ncol=8, target_height=80),
                 caption=RECON_CAPTION[family], output_format="PNG")
with right:
    st.subheader("Samples from the prior")
    seed = st.session_state.get("home_sample_seed", 0)
    st.image(widgets.image_grid(vc.sample_prior(loaded.model, 16, seed=seed), ncol=8, target_height=80),
             caption=SAMPLE_CAPTION[family], output_format="PNG")
    if st.button("New samples"):
        st.session_state["home_sample_seed"] = seed + 1
        st.rerun()

metrics = loaded.metadata.get("metrics") or {}
shown = [k for k in loaded.model.headline if isinstance(metrics.get(k), (int, float))]
if shown:
    cols = st.columns(len(shown) + 1)
    for col, k in zip(cols, shown):
        value = metrics[k]
        label = "Test reconstruction (nats)" if family == "ae" and k == "test_loss" else METRIC_LABELS.get(k, k)
        col.metric(label, f"{value:.1%}" if k == "test_accuracy" else f"{value:.4g}")
    cols[-1].metric("Latent", loaded.space.short(), help=loaded.space.describe())

st.subheader("Explore")
links = [
    ("pages/1_Train.py", "Train a model", ":material/model_training:"),
    ("pages/2_Latent_Map.py", "Latent map", ":material/scatter_plot:"),
    ("pages/3_Traverse.py", "Traverse dimensions", ":material/tune:"),
    ("pages/4_Interpolate.py", "Interpolate", ":material/swap_horiz:"),
    ("pages/5_Your_Input.py", "Encode your input", ":material/draw:"),
]
if family == "vq":
    links.append(("pages/6_Codebook.py", "Codebook", ":material/grid_view:"))
if family == "m2":
    links.append(("pages/7_Classes.py", "Classes and styles", ":material/category:"))
for col, (page, label, icon) in zip(st.columns(len(links)), links):
    col.page_link(page, label=label, icon=icon)
