import numpy as np
import pytest
import torch

import vae_core as vc


def test_lerp_and_slerp_hit_both_endpoints():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(5, generator=g), torch.randn(5, generator=g)
    for method in ("lerp", "slerp"):
        path = vc.interpolate(z0, z1, 7, method)
        assert path.shape == (7, 5)
        assert torch.allclose(path[0], z0, atol=1e-6)
        assert torch.allclose(path[-1], z1, atol=1e-6)


def test_slerp_keeps_the_norm_between_equal_norm_endpoints():
    z0 = torch.tensor([3.0, 0.0, 0.0])
    z1 = torch.tensor([0.0, 0.0, 3.0])
    path = vc.slerp(z0, z1, torch.linspace(0, 1, 11))
    assert torch.allclose(path.norm(dim=1), torch.full((11,), 3.0), atol=1e-5)
    assert path[5].tolist() == pytest.approx([3 / 2**0.5, 0.0, 3 / 2**0.5], abs=1e-5)  # the arc's midpoint
    # lerp cuts through the middle: its midpoint's norm is 3/sqrt(2)
    assert vc.lerp(z0, z1, torch.tensor([0.5]))[0].norm().item() == pytest.approx(3 / 2**0.5, abs=1e-5)


def test_slerp_of_parallel_vectors_does_not_divide_by_zero():
    z = torch.tensor([1.0, 2.0])
    path = vc.slerp(z, 2 * z, torch.linspace(0, 1, 5))
    assert torch.isfinite(path).all()
    assert torch.allclose(path[-1], 2 * z, atol=1e-5)


def test_interpolate_rejects_unknown_methods_and_too_few_steps():
    z = torch.zeros(2)
    with pytest.raises(ValueError, match="method must be one of lerp, slerp"):
        vc.interpolate(z, z, 3, "cubic")
    with pytest.raises(ValueError, match="steps must be at least 2"):
        vc.interpolate(z, z, 1)


def test_traverse_changes_only_the_chosen_dimension(tiny_model):
    z = torch.tensor([0.1, -0.2, 0.3])
    values = torch.tensor([-2.0, 0.0, 2.0])
    out = vc.traverse(tiny_model, z, 1, values)
    expected = vc.decode(tiny_model, torch.tensor([[0.1, -2.0, 0.3], [0.1, 0.0, 0.3], [0.1, 2.0, 0.3]]))
    assert torch.allclose(out, expected)
    assert not torch.allclose(out[0], out[2])
    grid = vc.traversal_grid(tiny_model, z, [2, 0], values)
    assert torch.allclose(grid[:3], vc.traverse(tiny_model, z, 2, values))
    assert torch.allclose(grid[3:], vc.traverse(tiny_model, z, 0, values))


def test_encode_decode_reconstruct_and_sample_shapes(tiny_model, tiny_images):
    mu, logvar = vc.encode(tiny_model, tiny_images, batch_size=7)  # batches must be stitched back in order
    full_mu, _ = tiny_model.encode(tiny_images)
    assert torch.allclose(mu, full_mu, atol=1e-6)
    recon = vc.reconstruct(tiny_model, tiny_images)
    assert recon.shape == tiny_images.shape and recon.min() >= 0 and recon.max() <= 1
    samples = vc.sample_prior(tiny_model, 6, seed=3)
    assert samples.shape == (6, 1, 8, 8)
    assert torch.equal(samples, vc.sample_prior(tiny_model, 6, seed=3))
    draws, std = vc.sample_posterior(tiny_model, tiny_images[0], 5)
    assert draws.shape == (5, 1, 8, 8) and std.shape == (1, 8, 8) and (std > 0).any()


def test_active_units_use_the_variance_of_the_posterior_means():
    mu = torch.tensor([[0.0, 1.0, 0.0], [0.0, -1.0, 0.1], [0.0, 1.0, -0.1], [0.0, -1.0, 0.0]])
    # variances (unbiased): 0, 4/3, 0.00667 -> only dimension 1 exceeds 0.01
    assert vc.active_units(mu).tolist() == [False, True, False]
    assert vc.active_units(mu, threshold=0.001).tolist() == [False, True, True]


def test_dataset_kl_per_dim_equals_the_closed_form(tiny_model, tiny_images):
    mu, logvar = tiny_model.encode(tiny_images)
    expected = (0.5 * (mu**2 + logvar.exp() - 1 - logvar)).mean(0)
    assert torch.allclose(vc.dataset_kl_per_dim(tiny_model, tiny_images), expected, atol=1e-6)


def test_aggregate_std_combines_spread_of_means_and_posterior_variance():
    mu = torch.tensor([[1.0], [-1.0]])
    logvar = torch.log(torch.tensor([[0.5], [0.5]]))
    assert vc.aggregate_std(mu, logvar).item() == pytest.approx((1.0 + 0.5) ** 0.5)


def test_projection_is_identity_for_2d_and_invertible_pca_otherwise():
    rng = np.random.default_rng(0)
    two = rng.normal(size=(50, 2))
    p = vc.project_2d(two)
    assert p.method == "identity" and np.allclose(p.coords, two)
    # points on a 2D plane inside 5D: PCA's inverse recovers them exactly
    basis = rng.normal(size=(2, 5))
    five = rng.normal(size=(50, 2)) @ basis
    p = vc.project_2d(five, "pca")
    assert p.coords.shape == (50, 2)
    assert np.allclose(p.inverse(p.coords), five, atol=1e-8)
    assert np.allclose(p.transform(five[:3]), p.coords[:3])  # new points land where the old ones did
    assert sum(p.explained_variance) == pytest.approx(1.0)


def test_tsne_projection_has_no_inverse():
    x = np.random.default_rng(0).normal(size=(40, 4))
    p = vc.project_2d(x, "tsne")
    assert p.coords.shape == (40, 2) and p.inverse is None
    with pytest.raises(ValueError, match="cannot be inverted"):
        vc.decode_plane(None, p, np.zeros((1, 2)))


def test_plane_grid_is_row_major_with_the_largest_y_on_top():
    grid = vc.plane_grid((-1.0, -2.0), (1.0, 2.0), 3)
    assert grid.shape == (9, 2)
    assert grid[0].tolist() == [-1.0, 2.0]
    assert grid[2].tolist() == [1.0, 2.0]
    assert grid[-1].tolist() == [1.0, -2.0]


def test_pca_matches_scikit_learn_up_to_sign():
    from sklearn.decomposition import PCA

    x = np.random.default_rng(3).normal(size=(200, 6)) * np.array([5, 3, 1, 1, 0.5, 0.1])
    ours = vc.project_2d(x, "pca")
    ref = PCA(n_components=2).fit(x)
    theirs = ref.transform(x)
    for k in range(2):
        assert np.allclose(np.abs(ours.coords[:, k]), np.abs(theirs[:, k]), atol=1e-8)
    assert ours.explained_variance == pytest.approx(tuple(ref.explained_variance_ratio_))


def test_tsne_reports_progress_up_to_one():
    x = np.random.default_rng(0).normal(size=(60, 4))
    seen = []
    p = vc.project_2d(x, "tsne", progress=seen.append)
    assert p.coords.shape == (60, 2) and np.isfinite(p.coords).all()
    assert seen and seen == sorted(seen) and seen[-1] == pytest.approx(1.0)


def test_reconstruction_error_is_the_bce_of_the_decoded_mean(tiny_model, tiny_images):
    err = vc.reconstruction_error(tiny_model, tiny_images, batch_size=7)
    p = vc.decode(tiny_model, tiny_model.encode(tiny_images)[0])
    by_hand = -(tiny_images * p.log() + (1 - tiny_images) * (1 - p).log()).flatten(1).sum(1)
    assert err.shape == (40,)
    assert torch.allclose(err, by_hand, atol=1e-3)


def test_traversal_grid_takes_a_range_per_row(tiny_model):
    z = torch.zeros(3)
    ranges = torch.tensor([[-1.0, 1.0], [-3.0, 3.0]])
    grid = vc.traversal_grid(tiny_model, z, [0, 2], ranges)
    assert torch.allclose(grid[:2], vc.traverse(tiny_model, z, 0, ranges[0]))
    assert torch.allclose(grid[2:], vc.traverse(tiny_model, z, 2, ranges[1]))


def test_path_diagnostics_by_hand():
    import math

    path = torch.tensor([[1.0, 0.0], [0.0, 0.0], [-1.0, 0.0]])
    diag = vc.path_diagnostics(path, torch.tensor([[1.0, 0.0], [-1.0, 0.0], [5.0, 5.0]]))
    assert diag["norm"].tolist() == [1.0, 0.0, 1.0]
    expected = [-0.5 * 1 - math.log(2 * math.pi), -math.log(2 * math.pi), -0.5 * 1 - math.log(2 * math.pi)]
    assert diag["log_prior"].tolist() == pytest.approx(expected)
    assert diag["nearest"].tolist() == pytest.approx([0.0, 1.0, 0.0])
