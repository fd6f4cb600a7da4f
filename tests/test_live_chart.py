"""The Train page's live curves: one panel per term, each epoch's test value placed at its last step."""

import vae_core as vc
from ui.charts import live_panels
from vae_core.training.record import EpochRecord


def test_each_term_is_a_panel_with_the_test_values_at_the_end_of_their_epoch():
    progress = vc.RunProgress(
        "r", status="running", steps=[1, 5, 10, 15, 20], steps_per_epoch=10,
        terms={"loss": [9.0, 7.0, 6.0, 5.5, 5.0], "recon": [8.0, 6.5, 5.0, 4.8, 4.5], "kl": [1.0, 0.5, 1.0, 0.7, 0.5],
               "accuracy": [0.1] * 5},
        epochs=[EpochRecord(1, {"loss": 6.5}, test={"test_loss": 6.1, "test_kl": 0.9, "test_kl_per_dim": [0.9]}),
                EpochRecord(2, {"loss": 5.2}, test={"test_loss": 5.3, "test_kl": float("nan")})],
    )
    panels = live_panels(progress)
    assert [p["title"] for p in panels] == ["−ELBO", "reconstruction", "KL"]  # accuracy is not a loss curve
    loss, recon, kl = panels
    assert loss["steps"] == [1, 5, 10, 15, 20] and loss["values"] == [9.0, 7.0, 6.0, 5.5, 5.0]
    assert loss["test_steps"] == [10, 20] and loss["test_values"] == [6.1, 5.3]
    assert recon["test_steps"] == [] and recon["test_values"] == []  # no test value of that term
    assert kl["test_steps"] == [10, 20] and kl["test_values"] == [0.9, None]  # NaN is not JSON: null, left out


def test_a_run_with_no_step_yet_has_one_empty_loss_panel():
    assert live_panels(vc.RunProgress("r")) == [
        {"title": "−ELBO", "steps": [], "values": [], "test_steps": [], "test_values": []}]
