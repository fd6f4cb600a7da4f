"""Train a model from the page: any family, live curves, stop at any time, continue later; the
history of the loaded model's own run."""

import dataclasses
import hashlib
import io
import zipfile

import streamlit as st

import vae_core as vc
from ui import caches, charts, collapse, runs, widgets
from ui.session import owner_id
from ui.svg_charts import live_curves
from vae_core.analysis.decomposition import evenly_spaced
from vae_core.store import DATASET_FILE
from vae_core.training.run import labelled_mask, model_config_for, model_settings

loaded = widgets.page_header(
    "Train a model",
    "Training minimises −ELBO = reconstruction + β·KL, in nats per example (VQ-VAE: reconstruction + commitment; "
    "M2: the labelled and unlabelled bounds plus a classification term). Runs go to a worker process: the other "
    "pages stay fast, and every run is kept in the runs folder.",
)

UPLOAD = "images"
DATASET_CHOICES = [*vc.DATASETS, UPLOAD]
MODEL_FIELDS = [name for name, (p, _) in vc.params_of(vc.ModelConfig).items() if p.widget and name != "family"]
TRAIN_FIELDS = [name for name in vc.params_of(vc.TrainConfig) if name != "precision"]


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
    size = b.radio("Size (pixels)", list(vc.data.user_images.IMAGE_SIZES), horizontal=True, key="upload_size")
    if files and st.button("Use these images", icon=":material/upload:"):
        blobs = [(f.name, f.getvalue()) for f in files]
        recipe = f"{size}:{colour}".encode()  # the same files at another size are another dataset
        digest = hashlib.sha256(b"".join(name.encode() + data for name, data in blobs) + recipe).hexdigest()[:12]
        try:
            data, skipped = vc.load_user_images(blobs, size=int(size), mode="RGB" if colour == "colour" else "L")
        except vc.DatasetError as exc:
            st.error(f"No dataset made: {exc}")
        else:
            data = dataclasses.replace(data, params={**data.params, "upload_id": digest})
            st.session_state["train_upload"] = (data, skipped)
    built = st.session_state.get("train_upload")
    if built is None:
        return None
    data, skipped = built
    c, h, w = data.image_shape
    st.success(f"{len(data):,} images of {c}×{h}×{w}, {len(data.label_names)} label(s): "
               f"{', '.join(data.label_names[:10])}" + (" …" if len(data.label_names) > 10 else ""))
    st.image(widgets.image_grid(data.images[:16], ncol=16, target_height=40), caption="the first 16 images",
             output_format="PNG")
    if skipped:
        with st.expander(f"{len(skipped)} file(s) skipped"):
            st.table([{"file": s.name, "reason": s.reason} for s in skipped])
    return data


def uploaded_dsprites(n: int) -> vc.Dataset | None:
    """The official .npz as an upload (when it is not in the data folder); None to use the folder."""
    folder = vc.data.default_data_dir("dsprites")
    st.caption(f"Read from `{folder}`, or upload `{vc.data.dsprites.DSPRITES_FILE}` (about 26 MB).")
    npz = st.file_uploader("dSprites .npz", type=["npz"], key="dsprites_upload")
    if npz is None:
        return None
    digest = hashlib.sha256(npz.getvalue() + f":{n}".encode()).hexdigest()[:12]  # another n: another subset
    if st.session_state.get("dsprites_built", (None,))[0] != digest:
        with st.spinner("Reading the dSprites file…"):
            try:
                data = vc.load_dataset("dsprites", path=npz.getvalue(), n=n)
            except vc.DatasetError as exc:
                st.error(f"Not used: {exc}")
                return None
        data = dataclasses.replace(data, params={**data.params, "upload_id": digest})
        st.session_state["dsprites_built"] = (digest, data)
    data = st.session_state["dsprites_built"][1]
    st.success(f"{len(data):,} dSprites images with factors {', '.join(data.factor_names)}.")
    return data


def training_form():
    """Widgets for one run: (family, dataset name, dataset params, uploaded dataset, model kw, train kw)."""
    family = st.radio("Model family", vc.FAMILIES, horizontal=True, key="train_family",
                      format_func=lambda f: vc.FAMILY_DESCRIPTIONS[f])
    name = st.selectbox("Dataset", DATASET_CHOICES, format_func=dataset_label, key="train_dataset")
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
    objective = None
    if family == "gaussian":
        objective = st.radio("Objective", vc.OBJECTIVES, horizontal=True, key="train_objective",
                             format_func=lambda o: vc.OBJECTIVE_DESCRIPTIONS[o].split(":")[0],
                             help=vc.params_of(vc.TrainConfig)["objective"][0].help)
        st.caption(vc.OBJECTIVE_DESCRIPTIONS[objective])
    train_params = vc.params_of(vc.TrainConfig)
    model_fields = [f for f in MODEL_FIELDS if family in vc.params_of(vc.ModelConfig)[f][0].families]
    train_fields = [f for f in TRAIN_FIELDS if f != "objective" and vc.applies(train_params[f][0], family, objective)]
    columns = st.columns(3)
    model_kw, train_kw = {"family": family}, ({"objective": objective} if objective else {})
    for i, field in enumerate(model_fields):
        with columns[i % 3]:
            model_kw[field] = widgets.param_widget(vc.ModelConfig, field, key=f"model_{field}")
    for i, field in enumerate(train_fields):
        with columns[(i + len(model_fields)) % 3]:
            train_kw[field] = widgets.param_widget(vc.TrainConfig, field, key=f"train_{field}")
    with st.expander("Speed"):
        train_kw["precision"] = widgets.param_widget(vc.TrainConfig, "precision", key="train_precision")
    return family, name, params, uploaded, model_kw, train_kw


LIVE_REFRESH_S = 2.0  # the live view's refresh (each costs the watching browser ~0.2 s of CPU); ≤ MAX_POINTS points
EPOCH_REFRESH_S = 10.0  # the per-epoch views change once an epoch

run_name, handle = runs.current_run()
progress = handle.poll() if handle is not None else None
running = progress is not None and progress.running

new_tab, history_tab = st.tabs(["New run", "History of the loaded model"])
with new_tab:
    with st.container(border=True):
        family, ds_name, ds_params, uploaded, model_kw, train_kw = training_form()
        start = st.button("Start training", type="primary", disabled=running, icon=":material/play_arrow:")
    if start and not running:
        try:
            vc.TrainConfig(**train_kw, family=family).check_schedule()  # checked here, not only by widgets
            if ds_name == UPLOAD and uploaded is None:
                raise vc.DatasetError("upload images and press 'Use these images' first")
            if uploaded is not None:
                data = uploaded
            else:
                with st.spinner(f"Loading {ds_name}…"):
                    data = caches.load_dataset_for_training(ds_name, ds_params)
            config = model_config_for(data, model_kw)
            spec = vc.RunSpec(dataset=data.name, dataset_params=data.params if uploaded is None else {},
                              model=model_settings(config), training=train_kw)
            labelled_mask(data, spec.train_config())  # e.g. more labels than images
            title = f"{data.name} · {family} · {config.latent_dim}D"
            runs.start_run(spec, title, uploaded=uploaded,
                           expected_samples=len(data.train_images) * spec.train_config().epochs)
            st.rerun()
        except (vc.ConfigError, vc.DatasetError, RuntimeError, OSError) as exc:
            st.error(f"Not started: {exc}")


def watch_epochs(p: vc.RunProgress) -> None:
    """Per-epoch views of the run so far: KL per dimension, active units, the KL's split; collapse named.
    The figures are built once per epoch (the view redraws every few seconds)."""
    last = p.epochs[-1].test
    if last.get("test_kl_per_dim") and p.family in ("gaussian", "m2"):
        collapse.say(vc.collapse_of(last["test_kl_per_dim"], last.get("test_mu_var")))
    stamp = (p.run_id, len(p.epochs))
    cached = st.session_state.get("_epoch_figures")
    if cached is None or cached[0] != stamp:
        cached = (stamp, [f for f in charts.history_figures(p.epochs, p.family) if not f[0].startswith("Loss terms")])
        st.session_state["_epoch_figures"] = cached
    figures = cached[1]
    with st.expander(f"Epoch by epoch ({len(p.epochs)} so far)", expanded=True):
        for i, (title, fig) in enumerate(figures):
            st.markdown(f"**{title}**")
            st.plotly_chart(fig, key=f"watch_{i}")


@st.fragment(run_every=LIVE_REFRESH_S if running else None)
def live_progress():
    name, handle = runs.current_run()
    if handle is None:
        st.info("Choose settings and press Start. Training runs in a separate process: other pages stay usable.")
        return
    p = handle.poll()
    if p.status == "queued":
        st.info(runs.status_line(p) + " Every training slot of this server is busy; yours starts when one "
                "frees up, and you can keep exploring meanwhile.")
    if p.running:
        if st.button("Leave the queue" if p.status == "queued" else "Stop", icon=":material/stop:"):
            handle.stop()
        if p.status != "queued":
            text = f"{p.progress:.0%} · {p.samples_per_s:,.0f} samples/s · {p.elapsed:.1f} s"
            st.progress(p.progress, text=text if p.status == "running" else "starting the worker process…")
    if p.steps:
        last = p.epochs[-1] if p.epochs else None
        c = st.columns(4)
        c[0].metric("Epoch", f"{len(p.epochs)} / {p.total_epochs}")
        c[1].metric("Loss (last batch)", f"{p.loss[-1]:.2f}" if p.loss else "—")
        headline = next((k for k in (last.test if last else {}) if not isinstance(last.test[k], list)), None)
        c[2].metric(headline or "Test", f"{last.test[headline]:.4g}" if headline else "—")
        c[3].metric("β now", f"{p.beta[-1]:.2f}" if p.beta and p.beta[-1] is not None else "—")
        live_curves(p, key="train_curves")
    if not p.running:
        if p.status == "failed":
            st.error(p.error or "training failed")
        elif p.status == "stopped" and not p.epochs:
            st.warning(p.error or "Left the queue before it started.")
        elif p.status == "stopped":
            reason = f" ({p.error})" if p.error else ""
            st.warning(f"Stopped after {len(p.epochs)} epoch(s){reason}. What was learned is kept; continue it "
                       "from the History tab.")
        else:
            st.success(f"Finished {len(p.epochs)} epochs in {p.elapsed:.1f} s. The model is now this session's "
                       "current model (see the sidebar) and is kept in the runs folder.")
        if p.checkpoint and not runs.adopted(name):
            st.rerun(scope="app")  # let the frame adopt the new model (once: the user may pick another since)


@st.fragment(run_every=EPOCH_REFRESH_S if running else None)
def live_epochs():
    _, handle = runs.current_run()
    p = handle.poll() if handle is not None else None
    if p is not None and p.epochs:
        watch_epochs(p)


with new_tab:
    live_progress()
    live_epochs()


def continue_form(loaded) -> None:
    if loaded.path is None or not (loaded.path / vc.checkpoints.STATE_FILE).is_file():
        st.caption("This checkpoint was saved without its optimiser state, so it can't be continued.")
        return
    name = loaded.checkpoint.dataset_name
    if name not in vc.DATASETS and not (loaded.path / DATASET_FILE).is_file():
        st.caption(f"It was trained on {name!r}, whose images are not kept on this server, so it can't be continued.")
        return
    done = (loaded.metadata.get("resume") or {}).get("epochs_done", 0)
    with st.form("continue"):
        total = st.number_input("Train until epoch", done + 1, 10_000, done + max(1, min(done, 10)))
        if st.form_submit_button("Continue training", icon=":material/resume:", disabled=running):
            training = dict(loaded.metadata.get("training") or {})
            training.pop("family", None)
            spec = vc.RunSpec(
                dataset=loaded.checkpoint.dataset_name or "",
                dataset_params=caches.safe_params(loaded.checkpoint.dataset_params),
                model=model_settings(loaded.config),
                training={**training, "epochs": int(total)}, resume_from=str(loaded.path),
            )
            try:
                runs.start_run(spec, f"{loaded.choice.removeprefix('run:')} continued to {int(total)} epochs")
            except (RuntimeError, OSError, vc.ConfigError) as exc:
                st.error(f"Not started: {exc}")
            else:
                st.rerun()


def final_kl_split(loaded) -> None:
    """The KL's three parts for the model as saved, when its history predates their per-epoch record."""
    data = caches.dataset_for(loaded)
    if data is None:
        return
    mu, logvar = caches.encoded_test_set(loaded.key, loaded.model, data)
    subset = evenly_spaced(len(mu))
    parts = vc.kl_decomposition(mu[subset], logvar[subset])
    st.markdown("**Where the KL goes, for the model as saved** (its history predates the per-epoch split)")
    c = st.columns(4)
    c[0].metric("index-code MI", f"{parts.mutual_info:.3f}", help=f"at most log N = log {parts.n}")
    c[1].metric("total correlation", f"{parts.total_correlation:.3f}")
    c[2].metric("dimension-wise KL", f"{parts.dimension_kl:.3f}")
    c[3].metric("their sum / the KL", f"{parts.estimate:.3f} / {parts.kl:.3f}")


with history_tab:
    if loaded is None:
        st.info("No model is loaded.")
    else:
        history = loaded.checkpoint.history
        run = loaded.metadata.get("run") or {}
        if not history:
            st.info(f"{loaded.choice} has no per-epoch history: it was saved before runs were recorded.")
        else:
            st.caption(f"{loaded.choice}: {len(history)} epochs, status {run.get('status', 'done')}"
                       + (f", continued after epoch(s) {', '.join(map(str, run['resumed_at']))}"
                          if run.get("resumed_at") else ""))
            for title, fig in charts.history_figures(history, loaded.family):
                st.markdown(f"**{title}**")
                st.plotly_chart(fig, key=f"history_{title[:20]}")
            if loaded.family == "gaussian" and charts.kl_split_figure(history) is None:
                final_kl_split(loaded)
        continue_form(loaded)


if loaded is not None and loaded.is_run:
    st.subheader("Keep this model")
    st.caption("It is kept in the runs folder (★ in the sidebar). Save a named copy in checkpoints/, or download it.")
    c1, c2 = st.columns(2)
    with c1, st.form("save_form"):
        name = st.text_input("Checkpoint name", value=f"{loaded.checkpoint.dataset_name}-{loaded.family}")
        overwrite = st.checkbox("Overwrite a checkpoint of the same name")
        if st.form_submit_button("Save to checkpoints/", icon=":material/save:"):
            try:
                vc.check_name(name)
                target = caches.CHECKPOINT_DIR / name
                refusal = caches.may_overwrite(target, owner_id()) if target.exists() else None
                if target.exists() and not overwrite:
                    st.error(f"A checkpoint named {name!r} already exists; choose another name or tick overwrite.")
                elif refusal:
                    st.error(f"Not saved: {refusal}. Choose another name.")
                else:
                    meta = {**loaded.metadata, "name": name, "origin": caches.APP_ORIGIN, "owner": owner_id()}
                    vc.save_checkpoint(target, loaded.model, meta)
                    st.success(f"Saved to checkpoints/{name}.")
            except (vc.CheckpointError, OSError) as exc:
                st.error(f"Not saved: {exc}")
    with c2:
        weights, config_bytes = vc.checkpoint_bytes(loaded.model, loaded.metadata)

        def archive() -> bytes:  # compressed only when the button is pressed, not on every rerun
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
                zf.writestr(vc.checkpoints.WEIGHTS_FILE, weights)
                zf.writestr(vc.checkpoints.CONFIG_FILE, config_bytes)
            return buf.getvalue()

        st.download_button("Download checkpoint (.zip)", data=archive, file_name="checkpoint.zip",
                           mime="application/zip", icon=":material/download:", on_click="ignore")
        st.download_button("Weights only (.safetensors)", data=weights, file_name="model.safetensors",
                           on_click="ignore")
        st.download_button("Config only (.json)", data=config_bytes, file_name="config.json",
                           mime="application/json", on_click="ignore")
