"""Train a VAE from the page: live curves, stop at any time, save or download the result."""

import hashlib
import io
import zipfile

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

import vae_core as vc
from ui import state, widgets

widgets.start_page(
    "Train a VAE",
    "Train",
    ":material/model_training:",
    "Training minimises −ELBO = reconstruction + β·KL, in nats per example. Watch the KL: a dimension "
    "whose KL falls to ~0 has collapsed to the prior and carries no information.",
)

job = state.training_job()
running = job is not None and job.running


UPLOAD = "images"
DATASET_CHOICES = [*vc.DATASETS, UPLOAD]


def dataset_label(name: str) -> str:
    if name == UPLOAD:
        return "your images: upload a zip (subfolders = labels) or several image files"
    return f"{name}: {vc.DATASETS[name].description}"


def uploaded_dataset() -> vc.Dataset | None:
    """Upload widgets for the user's own images; returns the dataset once built."""
    files = st.file_uploader(
        "Images (PNG, JPEG, BMP, GIF, WebP) or one zip", accept_multiple_files=True,
        type=["png", "jpg", "jpeg", "bmp", "gif", "webp", "zip"], key="train_uploads",
    )
    a, b = st.columns(2)
    colour = a.radio("Colour", ["grayscale", "colour"], horizontal=True, key="upload_colour")
    size = b.radio("Size (pixels)", list(vc.user_images.IMAGE_SIZES), horizontal=True, key="upload_size")
    if files and st.button("Use these images", icon=":material/upload:"):
        blobs = [(f.name, f.getvalue()) for f in files]
        recipe = f"{size}:{colour}".encode()  # the same files at another size are another dataset
        digest = hashlib.sha256(b"".join(name.encode() + data for name, data in blobs) + recipe).hexdigest()[:12]
        try:
            data, skipped = vc.load_user_images(blobs, size=int(size), mode="RGB" if colour == "colour" else "L")
        except vc.DatasetError as exc:
            st.error(f"No dataset made: {exc}")
        else:
            st.session_state["train_upload"] = (state.add_session_dataset(data, digest), skipped)
    built = st.session_state.get("train_upload")
    if built is None:
        return None
    data, skipped = built
    c, h, w = data.image_shape
    st.success(f"{len(data):,} images of {c}×{h}×{w}, {len(data.label_names)} label(s): "
               f"{', '.join(data.label_names[:10])}"
               + (" …" if len(data.label_names) > 10 else ""))
    st.image(widgets.image_grid(data.images[:16], ncol=16, target_height=40), caption="the first 16 images",
             output_format="PNG")
    if skipped:
        with st.expander(f"{len(skipped)} file(s) skipped"):
            st.table([{"file": s.name, "reason": s.reason} for s in skipped])
    return data


def uploaded_dsprites(n: int) -> vc.Dataset | None:
    """The official .npz as an upload (when it is not in the data folder); None to use the folder."""
    folder = vc.idx.default_data_dir("dsprites")
    st.caption(f"Read from `{folder}`, or upload `{vc.dsprites.DSPRITES_FILE}` (about 26 MB).")
    npz = st.file_uploader("dSprites .npz", type=["npz"], key="dsprites_upload")
    if npz is None:
        return None
    digest = hashlib.sha256(npz.getvalue() + f":{n}".encode()).hexdigest()[:12]  # another n: another subset
    key = f"dsprites:{digest}"
    if st.session_state.get("dsprites_built", (None,))[0] != key:
        with st.spinner("Reading the dSprites file…"):
            try:
                data = vc.load_dataset("dsprites", path=npz.getvalue(), n=n)
            except vc.DatasetError as exc:
                st.error(f"Not used: {exc}")
                return None
        st.session_state["dsprites_built"] = (key, state.add_session_dataset(data, digest))
    data = st.session_state["dsprites_built"][1]
    st.success(f"{len(data):,} dSprites images with factors {', '.join(data.factor_names)}.")
    return data


def training_form():
    """Widgets for one run: (dataset name, dataset params, uploaded dataset, ModelConfig kw, TrainConfig kw)."""
    name = st.selectbox("Dataset", DATASET_CHOICES, format_func=dataset_label)
    params, uploaded = {}, None
    if name == UPLOAD:
        uploaded = uploaded_dataset()
    elif name in ("sprites", "dsprites"):
        params["n"] = int(st.number_input("Images to use", 1000, 100_000, 20_000, step=1000))
        if name == "dsprites":
            uploaded = uploaded_dsprites(params["n"])
    elif name in ("mnist", "fashion-mnist"):
        n = int(st.number_input("Images to use (0 = all 70,000)", 0, 70_000, 0, step=5000,
                                help="A seeded subsample keeps the 6:1 train/test proportion."))
        if n:
            params["n"] = n
    c1, c2, c3 = st.columns(3)
    with c1:
        arch = st.radio("Architecture", vc.ARCHITECTURES, horizontal=True, format_func=str.upper)
        latent = st.number_input("Latent dimensions", 1, vc.MAX_LATENT_DIM, 2)
        hidden = st.number_input("Hidden width", 8, 4096, 256, step=32)
    with c2:
        beta = st.number_input("β (KL weight)", 0.0, 1000.0, 1.0, step=0.5, help="1 = plain VAE, >1 = β-VAE")
        warmup = st.number_input("KL warm-up epochs", 0, 1000, 0, help="β ramps linearly from 0 over these epochs")
        epochs = st.number_input("Epochs", 1, 10_000, 50)
    with c3:
        batch = st.number_input("Batch size", 1, vc.config.MAX_BATCH_SIZE, 128)
        lr = st.number_input("Learning rate", 1e-6, 1.0, 1e-3, format="%.5f", step=1e-4)
        seed = st.number_input("Seed", 0, 2**31 - 1, 0)
        precision = st.radio("Precision", vc.PRECISIONS, horizontal=True,
                             help="bf16 runs the forward pass in bfloat16: ~1.5x faster on CPUs with AVX-512 BF16; "
                             "the loss and the weights stay float32.")
    model_kw = {"arch": arch, "latent_dim": int(latent), "hidden": int(hidden)}
    train_kw = {
        "beta": float(beta), "warmup_epochs": int(warmup), "epochs": int(epochs),
        "batch_size": int(batch), "lr": float(lr), "seed": int(seed), "precision": precision,
    }
    return name, params, uploaded, model_kw, train_kw


with st.container(border=True):
    ds_name, ds_params, uploaded, model_kw, train_kw = training_form()
    start = st.button("Start training", type="primary", disabled=running, icon=":material/play_arrow:")

if start and not running:
    try:
        train_cfg = vc.TrainConfig(**train_kw)
        if ds_name == UPLOAD and uploaded is None:
            raise vc.DatasetError("upload images and press 'Use these images' first")
        if uploaded is not None:
            data = uploaded
        else:
            with st.spinner(f"Loading {ds_name}…"):
                data = state.load_dataset_for_training(ds_name, ds_params)
        model_cfg = vc.ModelConfig(image_shape=data.image_shape, **model_kw)
        state.start_training(data, model_cfg, train_cfg)
        st.rerun()
    except (vc.ConfigError, vc.DatasetError, RuntimeError) as exc:
        st.error(f"Not started: {exc}")


def curves(snap: vc.JobSnapshot) -> go.Figure:
    fig = make_subplots(rows=1, cols=3, subplot_titles=("−ELBO and reconstruction", "KL (rate)", "KL per dimension"))
    fig.add_trace(go.Scattergl(x=snap.steps, y=snap.loss, name="−ELBO (train)", line={"width": 1}), 1, 1)
    fig.add_trace(go.Scattergl(x=snap.steps, y=snap.recon, name="reconstruction", line={"width": 1}), 1, 1)
    fig.add_trace(go.Scattergl(x=snap.steps, y=snap.kl, name="KL", line={"width": 1}), 1, 2)
    if snap.epochs:
        steps_per_epoch = snap.steps_per_epoch
        ex = [round(e.epoch * steps_per_epoch) for e in snap.epochs if e.test_loss is not None]
        fig.add_trace(
            go.Scatter(x=ex, y=[e.test_loss for e in snap.epochs if e.test_loss is not None],
                       mode="markers+lines", name="−ELBO (test)"), 1, 1,
        )
        kl_dims = snap.epochs[-1].kl_per_dim
        colors = ["#d62728" if v < 0.01 else "#1f77b4" for v in kl_dims]
        fig.add_trace(
            go.Bar(x=[f"z{i}" for i in range(len(kl_dims))], y=kl_dims, marker_color=colors, name="KL / dim",
                   showlegend=False), 1, 3,
        )
    fig.update_xaxes(title_text="step", row=1, col=1)
    fig.update_xaxes(title_text="step", row=1, col=2)
    fig.update_yaxes(title_text="nats", row=1, col=1)
    fig.update_layout(height=340, margin={"t": 40, "b": 10, "l": 10, "r": 10}, legend={"orientation": "h", "y": -0.25})
    return fig


@st.fragment(run_every=0.5 if running else None)
def live_progress():
    job = state.training_job()
    if job is None:
        st.info("Choose settings and press Start. Training runs in the background: other pages stay usable.")
        return
    snap = job.snapshot()
    if job.running:
        if st.button("Stop", icon=":material/stop:"):
            job.stop()
        rate = f"{snap.progress:.0%} · {snap.samples_per_s:,.0f} samples/s · {snap.elapsed:.1f} s"
        st.progress(snap.progress, text=rate)
    if snap.steps:
        last = snap.epochs[-1] if snap.epochs else None
        c = st.columns(4)
        c[0].metric("Epoch", f"{len(snap.epochs)} / {job.train_config.epochs}")
        c[1].metric("−ELBO (last batch)", f"{snap.loss[-1]:.2f}")
        c[2].metric("Test −ELBO", f"{last.test_loss:.2f}" if last and last.test_loss is not None else "—")
        c[3].metric("β now", f"{snap.beta[-1]:.2f}")
        st.plotly_chart(curves(snap), key="train_curves")
    if not job.running:
        if snap.status == "failed":
            st.error(snap.error or "training failed")
        elif snap.status == "stopped":
            st.warning(f"Stopped after {len(snap.epochs)} epoch(s) and {len(snap.steps)} steps.")
        else:
            st.success(f"Finished {len(snap.epochs)} epochs in {snap.elapsed:.1f} s.")
        if state.training_job() is job and st.session_state.get("training_adopted") is not job:
            st.rerun(scope="app")  # let the whole page pick up the new model


live_progress()

job = state.training_job()
if job is not None and not job.running and job.model is not None:
    st.subheader("Keep this model")
    st.caption("It is now this session's current model (see the sidebar) on every page.")
    checkpoint = job.checkpoint()
    c1, c2 = st.columns(2)
    with c1, st.form("save_form"):
        default_name = f"{job.data.name}-{job.model_config.arch}-{job.model_config.latent_dim}d"
        name = st.text_input("Checkpoint name", value=default_name)
        overwrite = st.checkbox("Overwrite a checkpoint of the same name")
        if st.form_submit_button("Save to checkpoints/", icon=":material/save:"):
            try:
                vc.check_name(name)
                target = state.CHECKPOINT_DIR / name
                if target.exists() and not overwrite:
                    st.error(f"A checkpoint named {name!r} already exists; choose another name or tick overwrite.")
                elif target.exists() and not state.saved_from_app(target):
                    st.error(f"{name!r} is a shipped checkpoint and is never overwritten; choose another name.")
                else:
                    meta = {**checkpoint.metadata, "name": name, "origin": state.APP_ORIGIN}
                    vc.save_checkpoint(target, checkpoint.model, meta)
                    st.success(f"Saved to checkpoints/{name}.")
            except (vc.CheckpointError, OSError) as exc:
                st.error(f"Not saved: {exc}")
    with c2:
        try:
            weights, config_bytes = vc.checkpoint_bytes(checkpoint.model, checkpoint.metadata)
        except vc.CheckpointError as exc:
            st.error(f"Nothing to download: {exc}")
            st.stop()

        def archive() -> bytes:  # compressed only when the button is pressed, not on every rerun
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
                zf.writestr(vc.checkpoints.WEIGHTS_FILE, weights)
                zf.writestr(vc.checkpoints.CONFIG_FILE, config_bytes)
            return buf.getvalue()

        st.download_button("Download checkpoint (.zip)", data=archive, file_name="vae-checkpoint.zip",
                           mime="application/zip", icon=":material/download:", on_click="ignore")
        st.download_button("Weights only (.safetensors)", data=weights, file_name="model.safetensors",
                           on_click="ignore")
        st.download_button("Config only (.json)", data=config_bytes, file_name="config.json", mime="application/json",
                           on_click="ignore")
