"""A semi-supervised M2 model: style × class analogies, class-conditional samples, and how accuracy
grows with the number of labels."""

import plotly.graph_objects as go
import streamlit as st
import torch

import vae_core as vc
from ui import caches, url, widgets

loaded = widgets.page_header(
    "Classes and styles",
    "M2 splits an image into a class y (from q(y|x), learned from a few labels and many unlabelled images) and "
    "a continuous style z. Holding z and changing y redraws the same style as another class.",
)
model = loaded.model
data = caches.dataset_for(loaded)
names = list(data.label_names) if data is not None else [str(c) for c in range(loaded.space.n_classes)]

st.subheader("Style × class")
if data is not None:
    n_test = len(data.test_index)
    url.seed("classes_first", "i", int, lambda v: 0 <= v < n_test)
    first = int(st.number_input("First test image #", 0, max(0, n_test - 6), 0, key="classes_first"))
    url.write("i", first)
    rows = data.test_images[first : first + 6]
    with torch.no_grad():
        grid = torch.sigmoid(model.style_class_grid(rows))  # (rows * K, C, H, W)
    k = len(names)
    mosaic = torch.cat([torch.cat([rows[i : i + 1], grid[i * k : (i + 1) * k]]) for i in range(len(rows))])
    st.image(widgets.image_grid(mosaic, ncol=k + 1, target_height=48), output_format="PNG",
             caption="Left: a test image. Then its style z (μ of q(z|x, ŷ)) decoded with every class in turn: "
             + ", ".join(names) + ".")
else:
    st.info("The images this model was trained on are not available here, so there are no styles to borrow.")

st.subheader("Samples of one class")
c1, c2 = st.columns([1, 3])
with c1:
    y = st.selectbox("Class y", range(len(names)), format_func=lambda c: names[c], key="classes_y")
    seed = st.session_state.get("classes_seed", 0)
    if st.button("New samples"):
        st.session_state["classes_seed"] = seed + 1
        st.rerun()
with c2:
    st.image(widgets.image_grid(vc.sample_prior(model, 16, seed=seed, y=int(y)), ncol=8, target_height=56),
             caption=f"z ~ N(0, I), y = {names[y]}: the class is fixed, the style varies.", output_format="PNG")

st.subheader("Accuracy against the number of labels")
points = []
for info in [*vc.list_checkpoints(caches.CHECKPOINT_DIR), *caches.run_store().list()]:
    meta = info.metadata
    same_data = (meta.get("dataset") or {}).get("name") == loaded.checkpoint.dataset_name
    if meta["model"].get("family") != "m2" or not same_data:
        continue
    accuracy = (meta.get("metrics") or {}).get("test_accuracy")
    labels = (meta.get("training") or {}).get("labels", 0)
    if isinstance(accuracy, (int, float)):
        points.append((labels or (len(data.train_index) if data is not None else 0), accuracy, info.name))
if points:
    fig = go.Figure(go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="markers+text",
                               text=[p[2] for p in points], textposition="top center", name="M2"))
    fig.update_layout(height=360, margin={"t": 10, "b": 10, "l": 10, "r": 10}, xaxis_type="log",
                      xaxis_title="labels kept", yaxis_title="test accuracy of q(y|x)", yaxis_tickformat=".0%",
                      yaxis_range=[0, 1.02])
    st.plotly_chart(fig, key="accuracy_labels")
    st.caption(f"Every M2 model on {loaded.checkpoint.dataset_name} shipped or trained here. Train more with other "
               "'Labels kept' values on the Train page to fill the curve. Kingma et al. (2014) report 88.0% with "
               "100 MNIST labels, where a plain classifier reaches 74.2%.")
