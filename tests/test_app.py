"""The app's pages run headless through Streamlit's AppTest: no exceptions, images that respond."""

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [f"pages/{name}.py"
         for name in ("1_Train", "2_Latent_Map", "3_Traverse", "4_Interpolate", "5_Your_Input")]
TIMEOUT = 120  # per script run: generous, because a loaded CI machine can be slow (a run here takes < 2 s)


def _app(server_sliders: bool = False) -> AppTest:
    """The app; `server_sliders`: Traverse opens on its server-side Sliders tab (else on the Live scrub,
    whose sliders live in the page and are not seen here)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    if server_sliders:
        at.session_state["traverse_first_tab"] = "Sliders (kept in the link)"
    return at


def _no_errors(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_home_loads_the_default_model_and_shows_its_images():
    at = _app().run()
    _no_errors(at)
    assert at.sidebar.selectbox[0].value == "digits-2d"
    assert len(at.image) == 2  # reconstructions and prior samples
    assert "Latent Explorer" in at.title[0].value


def test_new_samples_button_changes_the_prior_samples():
    at = _app().run()
    before = at.image[1].value
    at.button[0].click().run()
    _no_errors(at)
    assert at.image[1].value != before


@pytest.mark.parametrize("checkpoint", ["digits-2d", "digits-10d", "digits-ae-2d"])
@pytest.mark.parametrize("page", sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("*.py")))
def test_every_page_runs_without_exception(page, checkpoint):
    at = _app().run()
    at.sidebar.selectbox[0].set_value(checkpoint).run()
    at.switch_page(page).run()
    _no_errors(at)
    assert at.sidebar.selectbox[0].value == checkpoint  # the choice carries across pages


def test_moving_a_slider_changes_the_decoded_image():
    at = _app(server_sliders=True).run()
    at.switch_page("pages/3_Traverse.py").run()
    before = at.image[0].value
    at.slider(key="z0").set_value(1.5).run()
    _no_errors(at)
    after = at.image[0].value
    assert after != before
    at.slider(key="z0").set_value(-2.0).run()
    assert at.image[0].value not in (before, after)


def test_traverse_lists_dimensions_by_kl_and_marks_inactive_ones():
    at = _app(server_sliders=True).run()
    at.sidebar.selectbox[0].set_value("digits-10d").run()
    at.switch_page("pages/3_Traverse.py").run()
    _no_errors(at)
    labels = [s.label for s in at.slider if s.key and s.key.startswith("z")]
    kls = [float(label.split("KL ")[1].split(" ")[0]) for label in labels]
    assert kls == sorted(kls, reverse=True)
    assert any("inactive" in label for label in labels)  # this model has collapsed dimensions


def test_selecting_a_point_on_the_map_shows_its_reconstruction():
    at = _app().run()
    at.switch_page("pages/2_Latent_Map.py").run()
    at.session_state["latent_map"] = {"selection": {"points": [{"customdata": 7}], "point_indices": [7]}}
    at.run()
    _no_errors(at)
    assert any("Test image #7" in h.value for h in at.subheader)
    captions = " ".join(img.caption for i in at.image for img in i.proto.imgs)
    assert "reconstruction" in captions


def test_interpolation_strip_follows_steps_and_method():
    at = _app().run()
    at.switch_page("pages/4_Interpolate.py").run()
    strip = at.image[1].value
    next(r for r in at.radio if r.label == "Path").set_value("slerp").run()
    _no_errors(at)
    assert at.image[1].value != strip
    at.slider[0].set_value(5).run()
    assert "5 decoded steps" in at.image[1].proto.imgs[0].caption


def test_the_train_page_offers_each_objective_its_own_settings():
    at = _app().run()
    at.switch_page("pages/1_Train.py").run()
    labels = {}
    for objective in ("beta-vae", "beta-tcvae", "factor-vae"):
        at.radio(key="train_objective").set_value(objective).run()
        _no_errors(at)
        labels[objective] = {n.label for n in at.number_input}
    assert {"β (KL weight)", "Posterior memory (batches)"} <= labels["beta-tcvae"]
    assert "Posterior memory (batches)" not in labels["beta-vae"] | labels["factor-vae"]
    assert "γ (total-correlation weight)" in labels["factor-vae"] - labels["beta-tcvae"]


def test_training_from_the_page_makes_the_new_model_current():
    at = _app().run()
    at.switch_page("pages/1_Train.py").run()
    epochs = next(n for n in at.number_input if n.label == "Epochs")
    epochs.set_value(2).run()
    start = next(b for b in at.button if b.label == "Start training")
    start.click().run()
    _no_errors(at)
    from ui import caches

    handle = caches.run_handles()[at.session_state["run_name"]]
    assert handle.join(timeout=120).status == "done"
    at.run()
    at.run()  # the finished run is adopted by the frame, then drawn
    _no_errors(at)
    assert at.sidebar.selectbox[0].value.startswith("run:")
    assert any("Finished 2 epochs" in s.value for s in at.success)
    at.switch_page("pages/3_Traverse.py").run()  # the new model works on the other pages
    _no_errors(at)


def _with_user_input(at: AppTest, value: float = 1.0) -> None:
    """Put an 'encoded input' in the session, as the Your input page does after an upload."""
    import torch

    image = torch.zeros(1, 8, 8)
    image[0, 1:7, 3:5] = value  # a vertical bar, like a "1"
    at.session_state["user_input"] = {"image": image, "source": "test", "model_key": "any"}


def test_your_input_page_shows_reconstruction_anomaly_score_and_map():
    at = _app().run()
    at.switch_page("pages/5_Your_Input.py").run()
    _with_user_input(at)
    at.run()
    _no_errors(at)
    captions = " ".join(img.caption for i in at.image for img in i.proto.imgs)
    assert "reconstruction" in captions and "per-pixel std" in captions
    assert any(m.label == "Reconstruction error (nats)" for m in at.metric)
    assert any("of the test images" in c.value for c in at.caption)


def test_your_input_starts_the_sliders_and_ends_an_interpolation():
    at = _app(server_sliders=True).run()
    _with_user_input(at)
    at.session_state["picked"] = {"traverse": "input", "end": "input"}
    at.switch_page("pages/3_Traverse.py").run()
    _no_errors(at)
    assert next(r for r in at.radio if r.label == "Start from").value == "your input"
    assert at.slider(key="z0").value != 0.0  # the sliders start at the input's μ
    at.switch_page("pages/4_Interpolate.py").run()
    _no_errors(at)
    assert next(r for r in at.radio if r.label == "End from").value == "your input"
    captions = [img.caption for i in at.image for img in i.proto.imgs]
    assert "your input" in captions


def test_tsne_projection_runs_and_the_plane_explains_why_it_cannot_be_decoded():
    at = _app().run()
    at.sidebar.selectbox[0].set_value("digits-10d").run()
    at.switch_page("pages/2_Latent_Map.py").run()
    next(r for r in at.radio if r.label == "Projection").set_value("tsne").run()
    _no_errors(at)
    assert any("t-SNE has no inverse map" in i.value for i in at.info)


def test_traverse_sliders_start_over_at_the_start_point_after_leaving_the_page():
    at = _app(server_sliders=True).run()
    at.switch_page("pages/3_Traverse.py").run()
    at.slider(key="z0").set_value(2.0).run()
    at.switch_page("pages/4_Interpolate.py").run()
    at.switch_page("pages/3_Traverse.py").run()
    _no_errors(at)
    assert at.slider(key="z0").value == 0.0 and at.slider(key="z1").value == 0.0  # the prior mean, not -3


def test_a_map_selection_outside_the_test_set_is_ignored():
    at = _app().run()
    at.switch_page("pages/2_Latent_Map.py").run()
    for bad in (10**6, -1, "abc"):
        at.session_state["latent_map"] = {"selection": {"points": [{"customdata": bad}], "point_indices": [0]}}
        at.run()
        _no_errors(at)
        assert not any(h.value.startswith("Test image #") for h in at.subheader)


def test_only_the_owner_of_a_checkpoint_saved_from_the_app_may_replace_it(tmp_path, tiny_model):
    import vae_core as vc
    from ui import caches

    assert "is a shipped checkpoint and is never overwritten" in caches.may_overwrite(
        ROOT / "checkpoints" / "digits-2d", "anyone")
    meta = vc.make_metadata(tiny_model.config, dataset="digits")
    vc.save_checkpoint(tmp_path / "mine", tiny_model, {**meta, "origin": caches.APP_ORIGIN, "owner": "ann"})
    assert caches.may_overwrite(tmp_path / "mine", "ann") is None
    assert "was saved by someone else on this server" in caches.may_overwrite(tmp_path / "mine", "bob")


def test_every_change_of_the_picker_sticks_across_pages():
    at = _app().run()
    choices = ["digits-10d", "digits-2d", "sprites-beta4", "digits-10d", "digits-2d", "digits-10d"]
    pages = ["pages/3_Traverse.py", "pages/0_Home.py", "pages/1_Train.py", "pages/4_Interpolate.py",
             "pages/2_Latent_Map.py", "pages/0_Home.py"]
    for choice, page in zip(choices, pages):
        at.sidebar.selectbox(key="model").set_value(choice).run()
        assert at.sidebar.selectbox(key="model").value == choice
        at.run()  # a second run must not snap back
        assert at.sidebar.selectbox(key="model").value == choice
        at.switch_page(page).run()
        _no_errors(at)
        assert at.sidebar.selectbox(key="model").value == choice
        assert at.query_params["model"] in (choice, [choice])


def test_two_runs_of_the_same_settings_can_each_be_picked(tmp_path):
    """The browser sends back the picked label, so alike runs need distinct labels (they had none,
    and the Train page then reran without end)."""
    import json
    import os
    import shutil

    runs = Path(os.environ["LATENT_EXPLORER_RUNS"])
    names = ["20261122-010101-gaussian-aaaaaa", "20261122-010101-gaussian-bbbbbb"]  # the same second
    for name in names:
        shutil.copytree(ROOT / "checkpoints" / "digits-2d", runs / name)
        config = json.loads((runs / name / "config.json").read_text())
        (runs / name / "config.json").write_text(json.dumps({**config, "title": "digits · gaussian · 2D"}))
    try:
        at = _app().run()
        labels = at.sidebar.selectbox(key="model").options
        assert len(set(labels)) == len(labels)
        for name in [*names, names[0]]:
            at.sidebar.selectbox(key="model").set_value(f"run:{name}").run()
            at.switch_page("pages/1_Train.py").run()
            at.run()
            _no_errors(at)
            assert at.sidebar.selectbox(key="model").value == f"run:{name}"
    finally:
        for name in names:
            shutil.rmtree(runs / name, ignore_errors=True)


def test_a_link_opens_the_same_model_page_and_view():
    at = _app()
    at.query_params.update({"model": "digits-10d", "z": "1.5,-0.5,0,0,0,0,0,0,0,0"})
    at.switch_page("pages/3_Traverse.py").run()
    _no_errors(at)
    assert at.sidebar.selectbox(key="model").value == "digits-10d"
    assert at.slider(key="z0").value == 1.5 and at.slider(key="z1").value == -0.5

    at = _app()
    at.query_params.update({"model": "digits-2d", "i": "7"})
    at.switch_page("pages/3_Traverse.py").run()
    assert next(r for r in at.radio if r.label == "Start from").value == "an encoded test image"
    assert next(n for n in at.number_input if n.label == "Test image #").value == 7

    at = _app()
    at.query_params.update({"model": "no-such-model"})
    at.run()
    _no_errors(at)
    assert at.sidebar.selectbox(key="model").value == "digits-2d"
    assert any("not on this server" in w.value for w in at.sidebar.warning)


def test_a_trained_model_survives_a_new_session_and_can_be_deleted():
    at = _app().run()
    at.switch_page("pages/1_Train.py").run()
    next(n for n in at.number_input if n.label == "Epochs").set_value(1).run()
    next(b for b in at.button if b.label == "Start training").click().run()
    from ui import caches

    assert caches.run_handles()[at.session_state["run_name"]].join(timeout=120).status == "done"
    at.run()
    choice = at.sidebar.selectbox(key="model").value
    assert choice.startswith("run:")

    fresh = _app()  # a refresh, or a server restart: a new session with the same link (and owner cookie)
    fresh.query_params["model"] = choice
    fresh.session_state["owner_id"] = at.session_state["owner_id"]
    fresh.switch_page("pages/1_Train.py").run()
    _no_errors(fresh)
    assert fresh.sidebar.selectbox(key="model").value == choice
    assert any("1 epochs" in c.value for c in fresh.caption)  # its history is shown
    fresh.sidebar.button(key="delete_run").click().run()
    _no_errors(fresh)
    assert fresh.sidebar.selectbox(key="model").value == "digits-2d"
    assert choice not in fresh.sidebar.selectbox(key="model").options


def test_links_reproduce_the_map_selection_and_the_interpolation():
    at = _app()
    at.query_params.update({"model": "digits-2d", "i": "5"})
    at.switch_page("pages/2_Latent_Map.py").run()
    _no_errors(at)
    assert any(h.value.startswith("Test image #5") for h in at.subheader)

    at = _app()
    at.query_params.update({"model": "digits-2d", "start": "3", "end": "9", "steps": "6", "path": "slerp"})
    at.switch_page("pages/4_Interpolate.py").run()
    _no_errors(at)
    assert next(r for r in at.radio if r.label == "Path").value == "slerp"
    assert "6 decoded steps" in at.image[1].proto.imgs[0].caption
    captions = [img.caption for i in at.image for img in i.proto.imgs]
    assert "start #3" in captions and "end #9" in captions


MNIST = ROOT.parent / "shared" / "data" / "mnist"
FAMILY_CHECKPOINTS = {"vq": "mnist-vq", "m2": "mnist-m2-100"}
ALL_PAGES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("*.py"))


@pytest.mark.skipif(not MNIST.is_dir(), reason="the MNIST models' pages need MNIST in ../shared/data")
@pytest.mark.parametrize("family", list(FAMILY_CHECKPOINTS))
@pytest.mark.parametrize("page", ALL_PAGES)
def test_every_page_runs_for_the_other_families(page, family):
    at = _app()
    at.query_params["model"] = FAMILY_CHECKPOINTS[family]
    at.switch_page(page).run()
    _no_errors(at)
    assert at.sidebar.selectbox(key="model").value == FAMILY_CHECKPOINTS[family]


@pytest.mark.skipif(not MNIST.is_dir(), reason="the MNIST models' pages need MNIST in ../shared/data")
def test_changing_one_code_of_a_vq_input_changes_its_decode():
    at = _app()
    at.query_params["model"] = "mnist-vq"
    at.switch_page("pages/6_Codebook.py").run()
    _no_errors(at)
    at.session_state["code_grid"] = {"selection": {"points": [{"customdata": 24}], "point_indices": [24]}}
    at.run()
    box = next(n for n in at.number_input if n.label.startswith("New code at row 3, column 3"))
    was = box.value
    before = next(i for i in at.image if "with code" in i.proto.imgs[0].caption).value
    box.set_value((was + 1) % 8).run()
    _no_errors(at)
    after = next(i for i in at.image if "with code" in i.proto.imgs[0].caption)
    assert f"with code {(was + 1) % 8} at (3, 3)" in after.proto.imgs[0].caption
    assert after.value != before


@pytest.mark.skipif(not MNIST.is_dir(), reason="the MNIST models' pages need MNIST in ../shared/data")
def test_an_m2_model_draws_the_same_style_in_every_class():
    at = _app()
    at.query_params["model"] = "mnist-m2-100"
    at.switch_page("pages/7_Classes.py").run()
    _no_errors(at)
    assert any("decoded with every class" in img.caption for i in at.image for img in i.proto.imgs)
    samples = next(i for i in at.image if "the class is fixed" in i.proto.imgs[0].caption).value
    at.selectbox(key="classes_y").set_value(7).run()
    assert next(i for i in at.image if "the class is fixed" in i.proto.imgs[0].caption).value != samples


def test_continue_training_carries_on_a_shipped_run_with_its_history():
    at = _app()
    at.query_params["model"] = "digits-2d"
    at.switch_page("pages/1_Train.py").run()
    box = next(n for n in at.number_input if n.label == "Train until epoch")
    assert box.value > 300  # the shipped run has 300 epochs
    box.set_value(301)
    next(b for b in at.button if b.label == "Continue training").click().run()
    _no_errors(at)
    from ui import caches

    assert caches.run_handles()[at.session_state["run_name"]].join(timeout=120).status == "done"
    at.run()
    at.run()
    choice = at.sidebar.selectbox(key="model").value
    assert choice.startswith("run:")
    ck = vc_checkpoint(choice)
    assert [e.epoch for e in ck.history][-2:] == [300, 301] and ck.metadata["run"]["resumed_at"] == [300]
    assert ROOT.joinpath("checkpoints", "digits-2d", "config.json").read_bytes().count(b'"epoch": 301') == 0


def vc_checkpoint(choice: str):
    import vae_core as vc
    from ui import caches

    return vc.load_checkpoint(caches.run_store().path(choice.removeprefix("run:")))


def test_compare_shows_scores_heatmaps_traversals_and_the_rate_distortion_plane():
    """Two sprites models side by side: the shipped one carries the metrics `vae_core.evaluate --save` wrote,
    a copy of it in the runs folder has none yet."""
    import os
    import shutil

    runs = Path(os.environ["LATENT_EXPLORER_RUNS"])
    name = "20261122-020202-gaussian-cccccc"
    import vae_core as vc

    shipped = vc.load_checkpoint(ROOT / "checkpoints" / "sprites-beta4")
    meta = dict(shipped.metadata)
    saved = meta.pop("disentanglement")
    vc.save_checkpoint(runs / name, shipped.model, meta)  # the same model, its metrics not yet computed
    try:
        at = _app().run()
        at.switch_page("pages/8_Compare.py").run()
        at.multiselect(key="compare_models").set_value(["sprites-beta4", f"run:{name}"]).run()
        _no_errors(at)
        table = at.dataframe[0].value
        assert table["model"].iloc[0] == "sprites-beta4"
        assert table["model"].iloc[1].startswith("★ ") and table["model"].iloc[1].endswith("02:02:02")  # its start
        assert table["MIG"].iloc[0] == pytest.approx(saved["mig"])
        assert any(b.label.startswith("Compute the metrics of 1 model") for b in at.button)  # the copy's
        assert len(at.get("plotly_chart")) >= 2  # the rate–distortion plane and the shipped model's heatmap
        assert len(at.get("download_button")) == 2  # a traversal GIF per model
        before = len(at.image)
        at.session_state["mi_sprites-beta4"] = {"selection": {"points": [{"customdata": 3}], "point_indices": [0]}}
        at.run()
        _no_errors(at)
        assert len(at.image) == before + 1
        assert any("z3 moved" in img.caption for i in at.image for img in i.proto.imgs)
    finally:
        shutil.rmtree(runs / name, ignore_errors=True)


def _saved_with_empty_prior_mean(name: str) -> Path:
    """A copy of the shipped sprites-beta4 in the runs folder whose z = 0 decodes to a black image, as
    many β-VAEs with an MLP decoder do: the output bias is lowered until no pixel of it is lit."""
    import os

    import torch

    import vae_core as vc

    shipped = vc.load_checkpoint(ROOT / "checkpoints" / "sprites-beta4")
    model = shipped.model.eval()
    last = [m for m in model.decoder if getattr(m, "bias", None) is not None][-1]
    with torch.no_grad():
        peak = model.decode(torch.zeros(1, model.latent_space.dim)).max()
        last.bias -= peak + 4.0  # z = 0 now peaks at sigmoid(-4) = 0.02
    folder = Path(os.environ["LATENT_EXPLORER_RUNS"]) / name
    vc.save_checkpoint(folder, model, dict(shipped.metadata))
    return folder


def test_traverse_starts_a_model_whose_prior_mean_is_empty_from_an_encoded_image():
    import shutil

    name = "20261123-030303-gaussian-dddddd"
    folder = _saved_with_empty_prior_mean(name)
    try:
        at = _app(server_sliders=True)
        at.query_params["model"] = f"run:{name}"
        at.switch_page("pages/3_Traverse.py").run()
        _no_errors(at)
        start = next(r for r in at.radio if r.label == "Start from")
        assert start.value == "an encoded test image" and not at.warning
        labels = [s.label for s in at.slider if s.key and s.key.startswith("z")]
        assert any(f in label for label in labels for f in ("pos_x", "pos_y", "scale"))  # the factor each tells
        assert all(re.search(r" · σ \d\.\d\d", label) for label in labels)  # the start image's posterior σ
        start.set_value("prior mean (z = 0)").run()
        assert any("decodes to an empty image" in w.value for w in at.warning)
        assert next(r for r in at.radio if r.label == "Start from").value == "prior mean (z = 0)"  # the choice sticks
        next(b for b in at.button if b.label == "Start from an encoded test image").click().run()
        _no_errors(at)
        assert next(r for r in at.radio if r.label == "Start from").value == "an encoded test image"
        assert not at.warning
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_sweep_started_from_compare_queues_its_runs_and_they_join_the_comparison():
    at = _app()
    at.session_state["compare_models"] = ["digits-2d", "digits-10d"]
    at.switch_page("pages/8_Compare.py").run()
    _no_errors(at)
    next(t for t in at.text_input if t.label.endswith("values")).set_value("1, 4").run()
    next(n for n in at.number_input if n.label == "Epochs").set_value(1).run()
    next(b for b in at.button if b.label == "Start the sweep").click().run()
    _no_errors(at)
    from ui import caches

    lines = [c.value for c in at.caption if c.value.startswith("sweep beta-vae")]
    assert len(lines) == 2 and "β=1 seed 0" in lines[0] and "β=4 seed 0" in lines[1]
    names = [n for n in caches.run_handles() if n in str(at.session_state["sweep_runs"])]
    for name in names:
        assert caches.run_handles()[name].join(timeout=120).status == "done"
    at.run()
    at.run()
    _no_errors(at)
    table = at.dataframe[0].value
    assert len(table) == 4 and list(table["setting"])[2:] == ["β-VAE β=1", "β-VAE β=4"]
    assert all("done after 1 epoch" in c.value for c in at.caption if c.value.startswith("sweep beta-vae"))
    bad = next(t for t in at.text_input if t.label.endswith("values"))
    bad.set_value("1, lots").run()
    next(b for b in at.button if b.label == "Start the sweep").click().run()
    assert any("'lots' is not a number" in e.value for e in at.error)


def test_a_collapsed_model_is_named_on_every_page_and_one_click_retrains_it_with_a_remedy():
    import os

    import vae_core as vc
    from ui import caches

    runs = Path(os.environ["LATENT_EXPLORER_RUNS"])
    name = "20261122-030303-gaussian-dddddd"
    spec = vc.RunSpec(dataset="digits", model={"arch": "mlp", "hidden": 400, "latent_dim": 10},
                      training={"beta": 8.0, "epochs": 10})
    vc.run_training(spec, runs / name)  # β = 8 presses every dimension of a digits model onto the prior
    at = _app()
    at.query_params["model"] = f"run:{name}"
    at.run()
    for page in ("pages/3_Traverse.py", "pages/2_Latent_Map.py"):
        at.switch_page(page).run()
        _no_errors(at)
        assert any(w.value.startswith("Posterior collapse: the total KL is") and "z0, z1" in w.value
                   for w in at.warning), page
    fix = next(b for b in at.button if b.label.startswith("free bits"))
    fix.click().run()
    _no_errors(at)
    handle = caches.run_handles()[at.session_state["run_name"]]
    assert handle.join(timeout=120).status == "done"
    ck = vc.load_checkpoint(handle.out_dir)
    assert ck.metadata["training"]["free_bits"] == 0.5 and ck.metadata["training"]["beta"] == 8.0
    assert not vc.collapse_of(ck.metadata["metrics"]["test_kl_per_dim"]).whole  # the code is back


def test_sprites_beta4_names_its_collapsed_dimensions_quietly():
    at = _app()
    at.query_params["model"] = "sprites-beta4"
    at.switch_page("pages/3_Traverse.py").run()
    _no_errors(at)
    assert not any("Posterior collapse" in w.value for w in at.warning)
    assert any("5 of 10 dimensions have collapsed onto the prior" in c.value for c in at.caption)


def test_anomalies_lists_the_worst_test_images_and_refuses_a_dataset_of_another_size():
    at = _app()
    at.query_params["model"] = "digits-10d"
    at.switch_page("pages/9_Anomalies.py").run()
    _no_errors(at)
    assert at.radio(key="anomaly_score").value == "neg_elbo"
    assert len(at.image) == 2 and "Most anomalous first" in at.image[0].proto.imgs[0].caption
    at.selectbox(key="ood_dataset").set_value("sprites").run()
    _no_errors(at)
    assert any("sprites images are 1×64×64; this model takes 1×8×8" in i.value for i in at.info)


def test_anomalies_scores_fashion_mnist_against_an_mnist_model():
    shared = ROOT.parent / "shared" / "data"
    if not all((shared / name).is_dir() for name in ("mnist", "fashion-mnist")):
        pytest.skip(f"the real MNIST and Fashion-MNIST files are not in {shared}")
    at = _app()
    at.query_params["model"] = "mnist-mlp-20d"
    at.switch_page("pages/9_Anomalies.py").run()
    at.selectbox(key="ood_dataset").set_value("fashion-mnist").run()
    _no_errors(at)
    auc = float(next(m for m in at.metric if m.label.startswith("AUROC")).value)
    assert auc > 0.99


def test_the_latent_map_colours_by_an_anomaly_score():
    at = _app()
    at.query_params["model"] = "digits-10d"
    at.switch_page("pages/2_Latent_Map.py").run()
    box = next(s for s in at.selectbox if s.label == "Colour by")
    assert "anomaly: −ELBO" in box.options
    box.set_value("anomaly: reconstruction error").run()
    _no_errors(at)


def test_holes_sets_the_shipped_autoencoder_beside_the_default_vae():
    at = _app().run()
    at.switch_page("pages/10_Holes.py").run()
    _no_errors(at)
    assert at.selectbox(key="holes_vae").value == "digits-2d" and at.selectbox(key="holes_ae").value == "digits-ae-2d"
    never = [m.value for m in at.metric if m.label == "data the prior never samples"]
    assert never[0] == "0%" and int(never[1].rstrip("%")) > 50  # the VAE's codes fill the prior; the AE's don't
    assert len(at.image) == 4  # deepest in holes and best covered, for each model


def test_a_lesson_runs_from_its_first_step_to_its_last_and_opens_each_view():
    at = _app()
    at.query_params.update({"lesson": "collapse", "step": "1"})
    at.switch_page("pages/11_Lessons.py").run()
    _no_errors(at)
    assert at.selectbox(key="lesson_choice").value == "collapse"
    for step in range(2):
        assert next(b for b in at.button if b.label == "Reveal").proto.disabled  # nothing guessed yet
        at.radio(key=f"guess_collapse_{step}").set_value(at.radio(key=f"guess_collapse_{step}").options[1]).run()
        next(b for b in at.button if b.label == "Reveal").click().run()
        _no_errors(at)
        assert at.success and at.success[0].value.startswith("Right.")
        if step == 0:
            next(b for b in at.button if b.label == "Next step").click().run()
    assert any(s.value == "Lesson complete: β and posterior collapse." for s in at.success)
    assert at.query_params["step"] == "2"
    next(b for b in at.button if b.label == "Open this view").click().run()  # step 2: the β = 8 model
    _no_errors(at)
    assert at.sidebar.selectbox(key="model").value == "digits-10d-beta8"
    assert any(w.value.startswith("Posterior collapse") for w in at.warning)
    assert any(t.value.startswith("Traverse") for t in at.title)
    at.query_params.clear()  # back to the lessons from the menu: the lesson and its step are where they were
    at.switch_page("pages/11_Lessons.py").run()
    assert at.selectbox(key="lesson_choice").value == "collapse"
    assert any("Step 2 of 2" in p.proto.text for p in at.get("progress"))


def test_every_lesson_step_names_a_shipped_model_and_a_page_that_exist():
    from ui.lessons import LESSONS

    for lesson in LESSONS.values():
        for step in lesson.steps:
            assert (ROOT / step.page).is_file(), step.page
            assert (ROOT / "checkpoints" / step.params["model"] / "config.json").is_file(), step.params["model"]
            assert 0 <= step.answer < len(step.options)


def test_the_history_of_a_shipped_model_shows_where_its_kl_goes():
    at = _app()
    at.query_params["model"] = "digits-10d"  # recorded epoch by epoch
    at.switch_page("pages/1_Train.py").run()
    _no_errors(at)
    assert any(m.value.startswith("**Where the KL goes (test subset)") for m in at.markdown)
    import os
    import shutil

    import vae_core as vc

    shipped = vc.load_checkpoint(ROOT / "checkpoints" / "digits-10d")
    meta = dict(shipped.metadata)
    meta["history"] = [{**r, "test": {k: v for k, v in r["test"].items() if k not in ("test_mi", "test_tc",
                                                                                    "test_dimension_kl")}}
                       for r in meta["history"]]  # as recorded before the split was
    name = "20261122-030303-gaussian-dddddd"
    runs = Path(os.environ["LATENT_EXPLORER_RUNS"])
    vc.save_checkpoint(runs / name, shipped.model, meta)
    try:
        at = _app()
        at.query_params["model"] = f"run:{name}"  # its history lacks the split: computed for the model
        at.switch_page("pages/1_Train.py").run()
        _no_errors(at)
        labels = [m.label for m in at.metric]
        assert {"index-code MI", "total correlation", "dimension-wise KL"} <= set(labels)
        total, kl = (float(v) for v in next(m for m in at.metric if m.label == "their sum / the KL").value.split(" / "))
        assert total == pytest.approx(kl, rel=0.1)  # one draw of z per image: Monte-Carlo error
    finally:
        shutil.rmtree(runs / name, ignore_errors=True)


def test_a_reloaded_page_of_the_same_browser_finds_its_run_and_can_stop_it():
    """A new session of the same owner (the cookie), even on a link without ?run=, adopts the run
    still going: it shows its progress, keeps it alive, and Stop reaches it."""
    at = _app().run()
    at.switch_page("pages/1_Train.py").run()
    next(n for n in at.number_input if n.label == "Epochs").set_value(5000).run()
    next(b for b in at.button if b.label == "Start training").click().run()
    from ui import caches

    name = at.session_state["run_name"]
    handle = caches.run_handles()[name]
    try:
        fresh = _app()
        fresh.session_state["owner_id"] = at.session_state["owner_id"]
        fresh.switch_page("pages/1_Train.py").run()
        _no_errors(fresh)
        assert fresh.session_state["run_name"] == name
        assert any(b.label == "Stop" for b in fresh.button)
        other = _app()  # another student's page does not see it
        other.switch_page("pages/1_Train.py").run()
        assert "run_name" not in other.session_state
        next(b for b in fresh.button if b.label == "Stop").click().run()
        assert handle.join(timeout=120).status == "stopped"
    finally:
        handle.stop()
