"""Latent Explorer: home page. Run with `streamlit run app.py`."""

import streamlit as st

st.set_page_config(page_title="Latent Explorer", page_icon=":material/explore:", layout="wide")

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


import torch  # noqa: E402  (after the intro: it draws while torch loads)

import vae_core as vc  # noqa: E402
from ui import state, widgets  # noqa: E402

loaded = state.model_picker()
with st.sidebar.expander("Upload a checkpoint"):
    weights_file = st.file_uploader("Weights (.safetensors)", type=["safetensors"], key="up_weights")
    config_file = st.file_uploader("Config (.json)", type=["json"], key="up_config")
    if weights_file and config_file and st.button("Load uploaded model"):
        try:
            loaded = state.add_uploaded_model(weights_file.getvalue(), config_file.getvalue(), weights_file.name)
            st.success(f"Loaded {weights_file.name}.")
        except vc.CheckpointError as exc:
            st.error(f"Not loaded (the current model is unchanged): {exc}")

if loaded is None:
    st.stop()

cfg = loaded.config
left, right = st.columns(2)
data = state.dataset_for(loaded)
with left:
    st.subheader("Reconstructions")
    if data is not None:
        originals = data.images[data.test_index[:8]]
        recon = vc.reconstruct(loaded.model, originals)
        st.image(
            widgets.image_grid(torch.cat([originals, recon]), ncol=8, target_height=80),
            caption="Top: test images. Bottom: decoded from their posterior means μ.", output_format="PNG")
with right:
    st.subheader("Samples from the prior")
    seed = st.session_state.get("home_sample_seed", 0)
    st.image(
        widgets.image_grid(vc.sample_prior(loaded.model, 16, seed=seed), ncol=8, target_height=80),
        caption="z ~ N(0, I), decoded. Gaps in the learned latent space show up as odd samples.", output_format="PNG")
    if st.button("New samples"):
        st.session_state["home_sample_seed"] = seed + 1
        st.rerun()

metrics = loaded.metadata.get("metrics") or {}
if "test_loss" in metrics and metrics["test_loss"] is not None:
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Test −ELBO (nats)", f"{metrics['test_loss']:.2f}")
    c2.metric("Reconstruction", f"{metrics['test_recon']:.2f}")
    c3.metric("KL", f"{metrics['test_kl']:.2f}")
    c4.metric("Latent dimensions", cfg.latent_dim)

st.subheader("Explore")
cols = st.columns(5)
cols[0].page_link("pages/1_Train.py", label="Train a VAE", icon=":material/model_training:")
cols[1].page_link("pages/2_Latent_Map.py", label="Latent map", icon=":material/scatter_plot:")
cols[2].page_link("pages/3_Traverse.py", label="Traverse dimensions", icon=":material/tune:")
cols[3].page_link("pages/4_Interpolate.py", label="Interpolate", icon=":material/swap_horiz:")
cols[4].page_link("pages/5_Your_Input.py", label="Encode your input", icon=":material/draw:")
