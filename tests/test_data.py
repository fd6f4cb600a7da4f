import numpy as np
import pytest
import torch

import vae_core as vc
from vae_core.data.sprites import SPRITE_GRID, render_sprites, sample_sprite_classes, sprite_factor_values


def test_digits_are_bundled_and_split_reproducibly():
    data = vc.load_dataset("digits")
    assert data.images.shape == (1797, 1, 8, 8)
    assert data.images.dtype == torch.float32
    assert data.images.min() >= 0.0 and data.images.max() <= 1.0
    assert len(data.train_index) + len(data.test_index) == 1797
    assert not set(data.train_index.tolist()) & set(data.test_index.tolist())
    again = vc.load_dataset("digits")
    assert torch.equal(again.test_index, data.test_index)


def test_unknown_dataset_is_named_in_the_error():
    with pytest.raises(vc.DatasetError, match="unknown dataset 'cifar'"):
        vc.load_dataset("cifar")


def test_sprites_dataset_returns_the_factors_it_was_asked_for():
    data = vc.load_dataset("sprites", n=300, seed=5)
    classes = data.factor_classes.numpy()
    assert data.images.shape == (300, 1, 64, 64)
    assert data.factor_names == ("shape", "scale", "orientation", "pos_x", "pos_y")
    assert np.array_equal(classes, sample_sprite_classes(300, seed=5))
    assert len({tuple(r) for r in classes}) == 300  # distinct grid points
    assert np.allclose(data.factors.numpy(), sprite_factor_values(classes))
    assert np.array_equal(data.labels.numpy(), classes[:, 0])
    rerendered = render_sprites(classes[:10])
    assert np.array_equal(rerendered, data.images[:10, 0].numpy().astype(np.uint8))


def _centre_of_mass(img):
    ys, xs = np.nonzero(img)
    return xs.mean(), ys.mean()


def test_each_sprite_factor_changes_the_image_as_named():
    base = np.array([[0, 3, 0, 16, 16]])
    centre = render_sprites(base)[0]
    right = render_sprites(np.array([[0, 3, 0, 31, 16]]))[0]
    lower = render_sprites(np.array([[0, 3, 0, 16, 31]]))[0]
    smallest = render_sprites(np.array([[0, 0, 0, 16, 16]]))[0]
    largest = render_sprites(np.array([[0, 5, 0, 16, 16]]))[0]
    turned = render_sprites(np.array([[0, 3, 5, 16, 16]]))[0]
    heart = render_sprites(np.array([[2, 3, 0, 16, 16]]))[0]
    assert _centre_of_mass(right)[0] > _centre_of_mass(centre)[0] + 15
    assert _centre_of_mass(lower)[1] > _centre_of_mass(centre)[1] + 15
    assert 3.0 < largest.sum() / smallest.sum() < 5.0  # scale 0.5 -> 1.0 quadruples the area
    assert not np.array_equal(turned, centre)
    assert not np.array_equal(heart, centre)
    assert set(np.unique(centre)) == {0, 1}


def test_sprites_drawn_in_a_window_equal_sprites_drawn_over_the_whole_image():
    """The renderer tests each sprite only near its centre; the largest sprites of every shape, at
    the corners and in every orientation, must come out as testing all 64×64 pixels does."""
    from vae_core.data import sprites

    grid = np.meshgrid([0, 1, 2], [4, 5], range(40), [0, 1, 15, 30, 31], [0, 31], indexing="ij")
    classes = np.stack(grid).reshape(5, -1).T
    v = sprite_factor_values(classes)
    pix = np.arange(64, dtype=np.float32) + 0.5
    radius = v[:, 1, None, None] * sprites._SPRITE_HALF_SIZE
    cos, sin = np.cos(v[:, 2])[:, None, None], np.sin(v[:, 2])[:, None, None]
    span = 64 - 2 * sprites._SPRITE_MARGIN
    dx = (pix[None, None, :] - (sprites._SPRITE_MARGIN + v[:, 3] * span)[:, None, None]) / radius
    dy = (pix[None, :, None] - (sprites._SPRITE_MARGIN + v[:, 4] * span)[:, None, None]) / radius
    u, w = cos * dx + sin * dy, cos * dy - sin * dx
    whole = np.stack([sprites._SHAPE_TESTS[k](u[i], w[i]) for i, k in enumerate(classes[:, 0])]).astype(np.uint8)
    assert np.array_equal(render_sprites(classes), whole)


def test_sprite_classes_out_of_the_grid_are_rejected():
    with pytest.raises(vc.DatasetError, match="out of range"):
        render_sprites(np.array([[3, 0, 0, 0, 0]]))
    with pytest.raises(vc.DatasetError, match="n must be an integer in"):
        sample_sprite_classes(int(np.prod(SPRITE_GRID)) + 1)
    with pytest.raises(vc.DatasetError, match="n must be an integer in 1..100,000"):
        vc.load_dataset("sprites", n=737_280)  # would need 12 GB
    with pytest.raises(vc.DatasetError, match="seed must be an integer"):
        vc.load_dataset("sprites", n=10, seed=-1)


def test_small_datasets_keep_two_test_images_and_large_ones_a_fifth():
    for n, (n_train, n_test) in {2: (1, 1), 3: (2, 1), 4: (2, 2), 5: (3, 2), 20: (16, 4), 1797: (1438, 359)}.items():
        train, test = vc.split_indices(n)
        assert (len(train), len(test)) == (n_train, n_test)
        assert sorted(train.tolist() + test.tolist()) == list(range(n))
