"""Two to six models side by side: disentanglement metrics, latent × factor mutual information,
traversals, the same inputs reconstructed, and the rate–distortion plane."""

import numpy as np
import streamlit as st
import torch

import vae_core as vc
from ui import caches, charts, compare, sidebar, sweep, widgets
from vae_core.imaging import display_scale, label_rows, png_bytes, tile, to_pil, traversal_gif

loaded = widgets.page_header(
    "Compare models",
    "Put models side by side: how well each one separates the factors that made the images (MIG, DCI, SAP, "
    "FactorVAE score, on posterior means), which dimension carries which factor, what each dimension does, "
    "and what each pays in reconstruction for its KL.",
)
labels, infos = sidebar.model_options()


def dataset_name(choice: str) -> str | None:
    return (infos[choice].metadata.get("dataset") or {}).get("name")


MAX_MODELS = 6
CHOSEN = "compare_models"
if CHOSEN not in st.session_state:  # the shipped sprites models, the first time
    shipped_sprites = [c for c in labels if not c.startswith("run:") and dataset_name(c) == "sprites"]
    st.session_state[CHOSEN] = shipped_sprites[:3] if len(shipped_sprites) >= 2 else ([loaded.choice] if loaded else [])
sweep.join_finished(CHOSEN, MAX_MODELS)
st.session_state[CHOSEN] = [c for c in st.session_state[CHOSEN] if c in labels]  # e.g. a run deleted meanwhile
chosen = st.multiselect(f"Models (2–{MAX_MODELS})", list(labels), max_selections=MAX_MODELS, format_func=labels.get,
                        key=CHOSEN, help="Shipped checkpoints, then (★) models trained or uploaded here.")


SWEEPING = sweep.running()


@st.fragment(run_every=2.0 if SWEEPING else None)
def sweep_panel(base) -> None:
    """Start a sweep around `base`, and follow its runs (each joins the comparison as it finishes)."""
    finished_before = st.session_state.get("sweep_finished", 0)
    state = sweep.runs()  # polled once per run of the panel
    for r, p in state:
        st.caption(sweep.progress_line(r, p))
    finished = sum(1 for _, p in state if p is not None and not p.running)
    st.session_state["sweep_finished"] = finished
    if finished > finished_before:
        st.rerun(scope="app")  # the table, the plot and the grids take the new model in
    if any(p is not None and p.running for _, p in state):
        st.button("Stop the sweep", icon=":material/stop:", on_click=sweep.stop_all)
        return
    if base is None or base.family != "gaussian":
        st.caption("A sweep varies a Gaussian VAE on the page: pick one first.")
        return
    st.caption(f"Around **{base.choice}**: its architecture, dataset, batch size and learning rate; one run per "
               "value and seed, queued on this server's runner and kept in the runs folder.")
    a, b, c, d = st.columns([2, 2, 1, 1])
    objective = a.selectbox("Objective", vc.OBJECTIVES, key="sweep_objective",
                            format_func=lambda o: vc.OBJECTIVE_DESCRIPTIONS[o].split(":")[0])
    field = sweep.SWEPT[objective]
    param, _ = vc.params_of(vc.TrainConfig)[field]
    text = b.text_input(f"{param.label}: values", "1, 4", key=f"sweep_values_{field}", help=param.help)
    seeds = int(c.number_input("Seeds", 1, 5, 1, key="sweep_seeds"))
    epochs = int(d.number_input("Epochs", 1, 200, 10, key="sweep_epochs"))
    if st.button("Start the sweep", icon=":material/play_arrow:", type="primary"):
        try:
            base_data = caches.dataset_for(base)
            sweep.start(sweep.specs(base, objective, sweep.parse_values(text, field), seeds, epochs),
                        train_images=None if base_data is None else len(base_data.train_images))
        except (vc.ConfigError, vc.DatasetError, vc.AdmissionError, OSError) as exc:
            st.error(f"Not started: {exc}")
        else:
            st.rerun()


with st.expander("Sweep: train several settings and add them here", expanded=SWEEPING):
    base_choice = next(iter(st.session_state[CHOSEN]), loaded.choice if loaded else None)
    try:
        base_model = sidebar.load_choice(base_choice, labels[base_choice], infos[base_choice]) if base_choice else None
    except (vc.CheckpointError, OSError):
        base_model = None
    sweep_panel(base_model)

if len(chosen) < 2:
    st.info("Pick at least two models to compare.")
    st.stop()

models = []
for choice in chosen:
    try:
        models.append(sidebar.load_choice(choice, labels[choice], infos[choice]))
    except (vc.CheckpointError, OSError) as exc:
        st.warning(f"{choice} could not be loaded: {exc}")
datasets = {m.choice: caches.dataset_for(m) for m in models}

# --- metrics ---------------------------------------------------------------------------------
metrics = {m.choice: compare.saved_metrics(m) for m in models if compare.has_factors(m)}
missing = [m for m in models if compare.has_factors(m) and metrics[m.choice] is None]
if missing and st.button(f"Compute the metrics of {len(missing)} model(s) (about a minute each)",
                         icon=":material/calculate:"):
    for m in missing:
        metrics[m.choice] = compare.compute_metrics(m)
    st.rerun()  # the button goes, the scores come
no_factors = [m.choice for m in models if not compare.has_factors(m)]
if no_factors:
    st.caption(f"No disentanglement metrics for {', '.join(no_factors)}: they need a gaussian model of a "
               "dataset with known factors (sprites, dsprites).")

rows = []
for m in models:
    test = m.metadata.get("metrics") or {}
    last = m.checkpoint.history[-1].test if m.checkpoint.history else {}
    s = metrics.get(m.choice)
    rows.append({
        "model": compare.short_name(m), "setting": compare.setting(m),
        "recon (nats)": test.get("test_recon"), "KL (nats)": test.get("test_kl"),
        "active dims": last.get("test_active_units"),
        **({"MIG": s["mig"], "DCI disent.": s["dci_disentanglement"], "DCI compl.": s["dci_completeness"],
            "DCI inform.": s["dci_informativeness"], "SAP": s["sap"], "FactorVAE": s["factor_vae"]} if s else {}),
    })
st.subheader("Scores")
st.dataframe(rows, hide_index=True, column_config={k: st.column_config.NumberColumn(format="%.3f") for k in
                                                   ("MIG", "DCI disent.", "DCI compl.", "DCI inform.", "SAP",
                                                    "FactorVAE", "recon (nats)", "KL (nats)")})
if missing:
    st.caption("Scores shown as None are not computed yet: " + ", ".join(compare.short_name(m) for m in missing)
               + " (the button above computes them).")
st.caption("MIG, DCI, SAP and FactorVAE score follow disentanglement_lib's protocols (10,000 points; 20-bin "
           "histograms for MIG; see the README for the sizes); 1 is a code whose every dimension carries one "
           "factor. Published on dSprites: β-VAE MIG ≈ 0.21, β-TCVAE ≈ 0.45; FactorVAE score 0.63–0.83.")

points = [{"kl": r["KL (nats)"], "recon": r["recon (nats)"], "setting": r["setting"], "name": r["model"]}
          for r in rows if isinstance(r["KL (nats)"], (int, float)) and isinstance(r["recon (nats)"], (int, float))]
if points:
    st.plotly_chart(charts.rate_distortion_figure(points), key="rate_distortion")

# --- the same inputs, reconstructed ----------------------------------------------------------
first = next((m for m in models if datasets[m.choice] is not None), None)
if first is not None:
    data = datasets[first.choice]
    st.subheader("The same inputs, reconstructed")
    n_test = len(data.test_index)
    start = int(st.number_input("First test image #", 0, max(0, n_test - 8), 0, key="compare_start",
                                help="Eight test images from here are reconstructed by every model; the first "
                                "one is also where the traversals start."))
    x = data.test_images[start : start + 8]
    same = [m for m in models if m.config.image_shape == first.config.image_shape]
    grid = [x] + [vc.reconstruct(m.model, x) for m in same]
    scale = display_scale(x.shape[-2], 48)
    image = label_rows(to_pil(tile(torch.cat(grid), ncol=len(x)), scale),
                       ["input"] + [compare.setting(m) for m in same], width=200)
    st.image(png_bytes(image), output_format="PNG")

    # --- traversals and mutual information, one column per model --------------------------
    st.subheader("What each dimension does")
    st.caption(f"Rows are dimensions by KL, each moved over ±{compare.TRAVERSAL_RANGE} σ of the encoded data "
               "around the test image above; the label names the factor the dimension shares most information "
               "with (I/H, 1 = all of it). Click a cell of a heatmap to see that dimension move.")
    columns = st.columns(min(2, len(models)))
    for i, m in enumerate(models):
        with columns[i % len(columns)]:
            d_data = datasets[m.choice]
            st.markdown(f"**{compare.short_name(m)}** · {compare.setting(m)}")
            if d_data is None or m.family != "gaussian":
                st.caption("No traversal: it needs a gaussian model and its dataset.")
                continue
            s = metrics.get(m.choice)
            order, dim_labels = compare.dimension_labels(m, d_data)
            shown = order[:10]
            strip = compare.traversal_rows(m, d_data, min(start, len(d_data.test_index) - 1), shown)
            sc = display_scale(strip.shape[-2], 40)
            st.image(png_bytes(label_rows(to_pil(tile(strip, ncol=compare.TRAVERSAL_STEPS), sc),
                                          dim_labels[: len(shown)], width=300)), output_format="PNG")
            st.download_button("Traversal GIF",
                               lambda strip=strip, shown=shown, labels=dim_labels, sc=sc:
                               traversal_gif(strip, len(shown), labels[: len(shown)], sc),
                               file_name=f"{m.choice.replace(':', '_')}-traversal.gif", mime="image/gif",
                               key=f"gif_{m.choice}", icon=":material/animation:", on_click="ignore")
            if s is not None:
                event = st.plotly_chart(
                    charts.mutual_info_figure(np.asarray(s["mutual_info"]), np.asarray(s["factor_entropy"]),
                                              s["factor_names"], "mutual information / factor entropy"),
                    on_select="rerun", selection_mode="points", key=f"mi_{m.choice}",
                )
                clicked = (event or {}).get("selection", {}).get("points", []) if event else []
                picked = [p.get("customdata") for p in clicked if p.get("customdata") is not None]
                if picked:
                    dim = int(picked[0])
                    one = compare.traversal_rows(m, d_data, min(start, len(d_data.test_index) - 1), [dim], steps=11)
                    st.image(png_bytes(to_pil(tile(one, ncol=11), display_scale(one.shape[-2], 48))),
                             caption=f"z{dim} moved from −{compare.TRAVERSAL_RANGE}σ to +{compare.TRAVERSAL_RANGE}σ",
                             output_format="PNG")
