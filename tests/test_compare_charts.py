"""The Compare page's rate–distortion plot: one point per model, runs trained here drawn apart."""

from ui.charts import rate_distortion_figure


def test_runs_trained_here_are_a_separate_trace_from_shipped_models_with_the_same_setting():
    points = [{"kl": 12.5, "recon": 72.2, "setting": "β-VAE β=4", "name": "sprites-beta4"},
              {"kl": 20.7, "recon": 52.0, "setting": "β-VAE β=1", "name": "sprites-beta1"},
              {"kl": 11.9, "recon": 80.1, "setting": "β-VAE β=4", "name": "★ sweep β=4 · 10:21:05"}]
    fig = rate_distortion_figure(points)
    assert [t.name for t in fig.data] == ["shipped or saved", "trained here ★"]
    shipped, runs = fig.data
    assert list(shipped.x) == [12.5, 20.7] and list(shipped.y) == [72.2, 52.0]
    assert list(runs.customdata) == ["★ sweep β=4 · 10:21:05"] and list(runs.text) == ["β-VAE β=4"]
    assert fig.layout.showlegend is True


def test_shipped_models_alone_need_no_legend():
    fig = rate_distortion_figure([{"kl": 1.0, "recon": 2.0, "setting": "β-VAE β=1", "name": "a"},
                                  {"kl": 3.0, "recon": 4.0, "setting": "β-VAE β=4", "name": "b"}])
    assert len(fig.data) == 1 and fig.layout.showlegend is False


def test_labels_of_points_that_sit_close_go_to_different_sides():
    points = [{"kl": 11.9, "recon": 65.9, "setting": "β-VAE β=4", "name": "sprites-beta4"},
              {"kl": 12.4, "recon": 64.5, "setting": "β-TCVAE β=4", "name": "sprites-tcvae"},
              {"kl": 20.9, "recon": 48.9, "setting": "β-VAE β=1", "name": "sprites-beta1"},
              {"kl": 12.1, "recon": 65.0, "setting": "β-VAE β=4", "name": "★ sweep β=4 · 10:21:05"}]
    fig = rate_distortion_figure(points)
    shipped, runs = fig.data
    assert list(shipped.textposition) == ["top center", "bottom center", "top center"]
    assert list(runs.textposition) == ["middle right"]  # the third of the close three
