"""The sidebar, drawn once by the navigation frame (app.py) for every page: the model picker, a
summary of the model, uploading a checkpoint, and deleting the user's own models."""

from __future__ import annotations

import time

import streamlit as st

import vae_core as vc
from ui import caches, runs, url
from ui.session import MODEL_KEY, RUN_PREFIX, LoadedModel, choose_model, current_model, owner_id, set_current_model

UPLOAD_ORIGIN = "uploaded in the app"
_TAKE_NEWER = "take_newer_version"
_PENDING_CHOICE = "pending_model_choice"  # a model to pick before the picker is drawn (an upload)


def _run_time(name: str) -> str:
    """'22 Nov 02:34:15' from a run folder named '20261122-023415-…' (empty if it is named otherwise)."""
    try:
        return time.strftime("%d %b %H:%M:%S", time.strptime(name[:15], "%Y%m%d-%H%M%S"))
    except ValueError:
        return ""


def model_options() -> tuple[dict[str, str], dict[str, vc.CheckpointInfo]]:
    """Picker value -> label, and value -> checkpoint folder info.

    Labels are unique: the browser sends the picked *label* back, and the server maps it to the
    last option with that label, so two runs of the same settings must not read alike."""
    infos: dict[str, vc.CheckpointInfo] = {}
    labels: dict[str, str] = {}
    for info in vc.list_checkpoints(caches.CHECKPOINT_DIR):
        infos[info.name] = info
        labels[info.name] = f"{info.name}  ({info.summary()})"
    for info in caches.run_store().list():
        key = RUN_PREFIX + info.name
        infos[key] = info
        title = info.metadata.get("title") or info.name
        when = _run_time(info.name)
        labels[key] = f"★ {title}" + (f" · {when}" if when else "") + f"  ({info.summary()})"
    seen: set[str] = set()
    for key, label in labels.items():
        if label in seen:  # e.g. two runs started in the same second
            labels[key] = f"{label} [{key}]"
        seen.add(labels[key])
    return labels, infos


def load_choice(choice: str, label: str, info: vc.CheckpointInfo) -> LoadedModel:
    """One of the picker's models, through the shared checkpoint cache. Raises CheckpointError, OSError.

    A model being viewed never changes under the viewer: when its files are rewritten (its owner
    saved over it), this session keeps the version it has until it asks for the new one."""
    stamp = caches.file_stamp(info.path)
    shown = current_model()
    changed = shown is not None and shown.choice == choice and not shown.key.endswith(f"@{stamp}")
    if changed and st.session_state.pop(_TAKE_NEWER, None) != choice:
        st.sidebar.info("A newer version of this model was saved on the server; you are still viewing the one "
                        "you opened.")
        st.sidebar.button("Show the newer version", key="take_newer",
                          on_click=lambda: st.session_state.update({_TAKE_NEWER: choice}))
        return shown
    checkpoint = caches.load_checkpoint(str(info.path), stamp)
    return LoadedModel(key=f"{choice}@{stamp}", choice=choice, label=label, checkpoint=checkpoint, path=info.path)


def _default(options: dict[str, str]) -> str:
    return caches.DEFAULT_CHECKPOINT if caches.DEFAULT_CHECKPOINT in options else next(iter(options))


def model_picker() -> LoadedModel | None:
    """Sidebar choice of model. The choice lives in the widget's own key (so every change sticks)
    and in the URL (`?model=`), so a copied link opens the same model."""
    runs.adopt_finished_run()
    if _PENDING_CHOICE in st.session_state:
        choose_model(st.session_state.pop(_PENDING_CHOICE))
    labels, infos = model_options()
    if not labels:
        st.sidebar.warning("No checkpoints found. Train a model on the Train page.")
        set_current_model(None)
        return None
    if MODEL_KEY not in st.session_state:  # a new session: the URL decides, else the default
        wanted = url.read("model")
        if wanted is not None and wanted not in labels:
            st.sidebar.warning(f"The link names the model {wanted!r}, which is not on this server; "
                               "showing the default instead.")
        choose_model(wanted if wanted in labels else _default(labels))
    elif st.session_state[MODEL_KEY] not in labels:  # e.g. deleted in another tab
        choose_model(_default(labels))
    choice = st.sidebar.selectbox(
        "Model", list(labels), key=MODEL_KEY, format_func=labels.get,
        help="Shipped checkpoints, then (★) the models trained or uploaded here, kept in the runs folder.",
    )
    url.write("model", choice)
    try:
        loaded = load_choice(choice, labels[choice], infos[choice])
    except (vc.CheckpointError, OSError) as exc:
        st.sidebar.error(f"Could not load {choice}: {exc}")
        set_current_model(None)
        return None
    set_current_model(loaded)
    _summary(loaded)
    _upload_checkpoint()
    if loaded.is_run and loaded.metadata.get("owner") in (None, owner_id()):  # None: from before owners
        _delete_run(loaded)
    return loaded


def _summary(loaded: LoadedModel) -> None:
    cfg, meta = loaded.config, loaded.metadata
    training = meta.get("training") or {}
    metrics = meta.get("metrics") or {}
    family = vc.FAMILY_DESCRIPTIONS.get(cfg.family, cfg.family).split(":")[0]
    lines = [
        f"**{family}** · {loaded.space.describe()}",
        f"dataset **{(meta.get('dataset') or {}).get('name', '?')}**, images {'×'.join(map(str, cfg.image_shape))}, "
        f"{metrics.get('epochs', training.get('epochs', '?'))} epochs",
    ]
    shown = [k for k in loaded.model.headline if isinstance(metrics.get(k), (int, float))]
    if shown:
        lines.append(" · ".join(f"{k.removeprefix('test_').replace('_', ' ')} {metrics[k]:.4g}" for k in shown))
    st.sidebar.caption("  \n".join(lines))


def _upload_checkpoint() -> None:
    with st.sidebar.expander("Upload a checkpoint"):
        weights = st.file_uploader("Weights (.safetensors)", type=["safetensors"], key="up_weights")
        config = st.file_uploader("Config (.json), for files saved before format 3 (newer weights carry it)",
                                  type=["json"], key="up_config")
        if weights and st.button("Load uploaded model", key="up_load"):
            try:
                checkpoint = vc.model_from_bytes(weights.getvalue(), config.getvalue() if config else None)
                folder = caches.run_store().new_run_dir("upload")
                meta = {**checkpoint.metadata, "origin": UPLOAD_ORIGIN, "title": f"uploaded: {weights.name[:40]}",
                        "owner": owner_id()}
                vc.save_checkpoint(folder, checkpoint.model, meta)
            except (vc.CheckpointError, OSError) as exc:
                st.error(f"Not loaded (the current model is unchanged): {exc}")
            else:  # the picker is already drawn on this run: it takes the new model on the next
                st.session_state[_PENDING_CHOICE] = RUN_PREFIX + folder.name
                st.rerun()


def _delete_run(loaded: LoadedModel) -> None:
    with st.sidebar.popover("Delete this model", icon=":material/delete:"):
        st.caption(f"Removes {loaded.choice.removeprefix(RUN_PREFIX)} from the runs folder, for everyone on "
                   "this server. Only its owner may; shipped checkpoints are never deleted.")
        if st.button("Delete for good", type="primary", key="delete_run"):
            try:
                caches.run_store().delete(loaded.choice.removeprefix(RUN_PREFIX))
            except (vc.CheckpointError, OSError) as exc:
                st.error(f"Not deleted: {exc}")
            else:
                st.session_state.pop(MODEL_KEY, None)
                url.drop("model")
                st.rerun()
