"""Anomaly detection on the whole data: the test images the model explains worst, and how well its score
tells a second dataset apart (histograms, ROC curve, AUC)."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

import vae_core as vc
from ui import caches, url, widgets
from vae_core.imaging import display_scale, png_bytes, tile, to_pil

loaded = widgets.page_header(
    "Anomalies",
    "A VAE scores an input by how badly it explains it: the reconstruction error, −ELBO, or −log p(x) by the "
    "importance-weighted bound. The test images it explains worst are listed here, and a second dataset is "
    "scored as out-of-distribution (OOD).",
)
data = widgets.require_dataset(loaded)
model = loaded.model
SCORED = 2000  # test images scored, and as many from a second dataset: the ROC is stable to ~0.01 at this size
SHOWN = 16

scores = vc.scores_for(model)
url.seed("anomaly_score", "score", str, lambda v: v in scores)
score = st.radio("Anomaly score", scores, horizontal=True, format_func=lambda k: vc.ANOMALY_SCORES[k],
                 index=scores.index("neg_elbo") if "neg_elbo" in scores else 0, key="anomaly_score",
                 help="The importance-weighted bound decodes 64 draws per image: the tightest, and ~64× slower.")
url.write("score", score)
if len(scores) == 1:
    st.caption(f"A {widgets.FAMILY_NAMES[loaded.family]} has no Gaussian q(z|x) to weight, so only the "
               "reconstruction error applies.")
n_scored = min(SCORED, len(data.test_index))
test_scores = caches.anomaly_scores(loaded.key, model, data.test_images[:n_scored], f"test:{n_scored}", score)
order = np.argsort(test_scores)
scale = display_scale(data.image_shape[-2], 56)

st.subheader(f"The test images it explains worst (of the first {n_scored:,})")
worst = order[::-1][:SHOWN]
st.image(png_bytes(to_pil(tile(data.test_images[torch.as_tensor(worst.copy())], ncol=SHOWN // 2), scale)),
         caption="Most anomalous first, left to right: " + ", ".join(f"#{i} ({test_scores[i]:.0f})" for i in worst),
         output_format="PNG")
st.image(png_bytes(to_pil(tile(data.test_images[torch.as_tensor(order[:SHOWN].copy())], ncol=SHOWN // 2), scale)),
         caption="…and the most typical: " + ", ".join(f"#{i} ({test_scores[i]:.0f})" for i in order[:SHOWN]),
         output_format="PNG")
st.caption("The Latent map page can colour every test image by this score.")

st.subheader("Out-of-distribution: a second dataset")
own = loaded.checkpoint.dataset_name
others = [name for name, spec in vc.DATASETS.items() if name != own]
url.seed("ood_dataset", "ood", str, lambda v: v in others)
other = st.selectbox("Score this dataset's test images", others, index=None, key="ood_dataset",
                     placeholder="choose a dataset of the same image size",
                     help="Its images must have the model's size: MNIST and Fashion-MNIST models score each other.")
if other is None:
    url.drop("ood")
    st.stop()
url.write("ood", other)
try:
    ood = caches.load_registered_dataset(other, {"download": False} if other in ("mnist", "fashion-mnist") else {})
except vc.DatasetError as exc:
    st.error(f"Could not load {other}: {exc}")
    st.stop()
if ood.image_shape != data.image_shape:
    st.info(f"{other} images are {'×'.join(map(str, ood.image_shape))}; this model takes "
            f"{'×'.join(map(str, data.image_shape))}. Choose a dataset of the same size.")
    st.stop()
n = min(n_scored, len(ood.test_index))
s_in = test_scores[:n]
s_out = caches.anomaly_scores(loaded.key, model, ood.test_images[:n], f"ood:{other}:{n}", score)
roc = vc.ood_roc(s_in, s_out)

left, right = st.columns(2)
hist = go.Figure()
hi = float(np.quantile(np.concatenate([s_in, s_out]), 0.995))
for values, name in ((s_in, f"{own} (its own test images)"), (s_out, f"{other} (OOD)")):
    hist.add_trace(go.Histogram(x=np.minimum(values, hi), name=name, opacity=0.6, nbinsx=60, histnorm="probability"))
hist.update_layout(barmode="overlay", height=340, margin={"t": 10, "b": 10, "l": 10, "r": 10},
                   xaxis_title=f"{score} score (nats)", yaxis_title="fraction", legend={"orientation": "h", "y": -0.25})
left.plotly_chart(hist, key="ood_hist")
curve = go.Figure(go.Scatter(x=roc.fpr, y=roc.tpr, mode="lines", name=f"AUC {roc.auc:.3f}"))
curve.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "grey"}, name="chance"))
curve.update_layout(height=340, margin={"t": 10, "b": 10, "l": 10, "r": 10}, xaxis_title="false positive rate",
                    yaxis_title="true positive rate", legend={"orientation": "h", "y": -0.25})
right.plotly_chart(curve, key="ood_roc")
st.metric(f"AUROC, {other} flagged against {own}", f"{roc.auc:.3f}")
if roc.auc < 0.5:
    st.warning(f"Below chance: {other}'s images score as *more* likely than the model's own. Likelihood models "
               "can prefer simpler data they never saw (Nalisnick et al., 2019, found Fashion-MNIST models "
               "preferring MNIST): a high likelihood is not evidence that an input is in-distribution.")
st.caption(f"{n:,} test images from each. The same from the command line: python -m vae_core.evaluate "
           f"--checkpoint DIR --ood-dataset {other} --score {score}")
