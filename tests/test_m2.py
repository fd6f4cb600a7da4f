import math

import pytest
import torch
import torch.nn.functional as F

from vae_core.config import ModelConfig, TrainConfig
from vae_core.models.base import StepContext, init_weights
from vae_core.models.losses import bernoulli_nll, gaussian_kl
from vae_core.models.m2 import M2, weighted_objective

K, D, SHAPE = 3, 2, (1, 4, 4)
LR = 0.2


def _model(seed=0, arch="mlp", shape=SHAPE, k=K):
    model = M2(ModelConfig(image_shape=shape, family="m2", latent_dim=D, arch=arch, hidden=8, n_classes=k))
    init_weights(model, torch.Generator().manual_seed(seed))
    return model


def _deterministic(model):
    """sigma = e^-15: z equals mu to ~1e-6, so L(x, y) can be computed by hand from the means."""
    with torch.no_grad():
        model.to_logvar.weight.zero_()
        model.to_logvar.bias.fill_(-30.0)
    return model


def _ctx(seed=0, n_train=0, n_labelled=0, alpha=0.1, beta=1.0):
    return StepContext(train=TrainConfig(family="m2", alpha=alpha), beta=beta,
                       generator=torch.Generator().manual_seed(seed), n_train=n_train, n_labelled=n_labelled)


def _batch(x, labels=None, labelled=None):
    b = x.shape[0]
    labels = torch.zeros(b, dtype=torch.long) if labels is None else labels
    labelled = torch.zeros(b, dtype=torch.bool) if labelled is None else labelled
    return {"images": x, "labels": labels, "labelled": labelled}


def _hand_L(model, x, y):
    """-log p(x|y, z=mu) + KL(q(z|x, y) || N(0, I)) + log K, per example."""
    mu, logvar, _ = model.encode(x, torch.full((x.shape[0],), y))
    return bernoulli_nll(model.decode_zy(mu, torch.full((x.shape[0],), y)), x) + gaussian_kl(mu, logvar).sum(1) \
        + math.log(K)


def _images(n=5, seed=1):
    return torch.rand(n, *SHAPE, generator=torch.Generator().manual_seed(seed))


def test_unlabelled_bound_is_the_q_weighted_sum_of_L_minus_the_entropy():
    model, x = _deterministic(_model()), _images()
    with torch.no_grad():
        L = torch.stack([_hand_L(model, x, y) for y in range(K)], dim=1)  # (B, K)
        q = F.softmax(model.classify(x), dim=1)
        entropy = -(q * q.log()).sum(1)
        expected = ((q * L).sum(1) - entropy).mean()
    t = model.evaluate_terms(_batch(x), _ctx()).terms
    assert t["unlabelled"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert t["neg_elbo"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert t["recon"] + t["kl"] == pytest.approx(t["neg_elbo"].item(), rel=1e-5)
    assert t["kl"] == pytest.approx((t["kl_z"] + t["kl_y"]).item(), rel=1e-5)


def test_with_a_one_hot_classifier_U_equals_L_of_that_class():
    model, x = _deterministic(_model()), _images()
    with torch.no_grad():  # q(y|x) puts all its mass on class 1
        model.classifier[-1].weight.zero_()
        model.classifier[-1].bias.copy_(torch.tensor([0.0, 60.0, 0.0]))
        expected = _hand_L(model, x, 1).mean().item()
    u = model.evaluate_terms(_batch(x), _ctx()).terms["unlabelled"].item()
    labelled = model.loss_terms(_batch(x, torch.ones(5, dtype=torch.long), torch.ones(5, dtype=torch.bool)), _ctx())
    assert u == pytest.approx(expected, rel=1e-5)
    assert labelled.terms["labelled"].item() == pytest.approx(expected, rel=1e-5)


def test_the_weighting_estimates_J_alpha_over_N():
    lab, unl, cls = torch.tensor(2.0), torch.tensor(3.0), torch.tensor(0.5)
    # (N_l·L + (N - N_l)·U + α·N_l·cls) / N with α = 0.1·N = 100
    assert weighted_objective(lab, unl, cls, 1000, 10, 0.1).item() == pytest.approx((20 + 2970 + 100 * 10 * 0.5) / 1000)
    assert weighted_objective(None, unl, None, 1000, 10, 0.1).item() == pytest.approx(3.0)
    assert weighted_objective(lab, None, cls, 1000, 1000, 0.1).item() == pytest.approx(2.0 + 100 * 0.5)

    model, x = _model(), _images(6)
    labels, labelled = torch.tensor([0, 1, 2, 0, 1, 2]), torch.tensor([True, True, False, False, False, False])
    out = model.loss_terms(_batch(x, labels, labelled), _ctx(n_train=600, n_labelled=20, alpha=0.2))
    t = out.terms
    expected = (20 * t["labelled"] + 580 * t["unlabelled"] + 0.2 * 600 * 20 * t["classification"]) / 600
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-6)
    # without counts in the context, the batch's own: N = 6, N_l = 2
    out = model.loss_terms(_batch(x, labels, labelled), _ctx(alpha=0.2))
    t = out.terms
    expected = (2 * t["labelled"] + 4 * t["unlabelled"] + 0.2 * 6 * 2 * t["classification"]) / 6
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_accuracy_against_hand_made_logits():
    model, x = _model(), _images(4)
    logits = torch.tensor([[5.0, 0, 0], [0, 5.0, 0], [0, 0, 5.0], [5.0, 0, 0]])
    model.classify = lambda images: logits
    labels = torch.tensor([0, 2, 2, 1])  # predictions 0, 1, 2, 0: right on rows 0 and 2
    assert model.evaluate_terms(_batch(x, labels), _ctx()).terms["accuracy"].item() == pytest.approx(0.5)
    train = model.loss_terms(_batch(x, labels, torch.tensor([True, True, False, True])), _ctx())
    assert train.terms["accuracy"].item() == pytest.approx(1 / 3)  # labelled rows 0, 1, 3
    assert model.test_metrics({"accuracy": 45.0, "neg_elbo": 900.0, "loss": 900.0}, {}, 50) == pytest.approx(
        {"test_accuracy": 0.9, "test_neg_elbo": 18.0, "test_loss": 18.0, "test_error": 0.1})


def test_class_conditional_sampling_decodes_the_requested_class():
    model = _model()
    a = model.sample(4, torch.Generator().manual_seed(3), y=0)
    b = model.sample(4, torch.Generator().manual_seed(3), y=2)
    z = torch.randn(4, D, generator=torch.Generator().manual_seed(3))
    assert a.shape == (4, *SHAPE)
    assert not torch.allclose(a, b)
    assert torch.allclose(b, model.decode((z, torch.full((4,), 2))))
    assert torch.allclose(b, model.decode_zy(z, F.one_hot(torch.full((4,), 2), K).float()))
    ys = torch.tensor([2, 2, 0, 0])
    mixed = model.sample(4, torch.Generator().manual_seed(3), y=ys)
    assert torch.allclose(mixed, torch.cat([b[:2], a[2:]]))
    assert model.sample(5, torch.Generator().manual_seed(0)).shape == (5, *SHAPE)  # y uniform


def test_style_class_grid_rows_are_styles_and_columns_classes():
    model, x = _model(), _images(2)
    grid = model.style_class_grid(x)
    assert grid.shape == (2 * K, *SHAPE)
    mu = model.embed(x)
    for i in range(2):
        for j in range(K):
            assert torch.allclose(grid[i * K + j], model.decode_zy(mu[i : i + 1], torch.tensor([j]))[0])
    some = model.style_class_grid(x, classes=[2, 0])
    assert torch.allclose(some[1], grid[0]) and torch.allclose(some[2], grid[K + 2])


def test_encode_reconstruct_and_latent_space():
    model, x = _model(arch="conv", shape=(1, 8, 8)), torch.rand(3, 1, 8, 8)
    mu, logvar, probs = model.encode(x)
    assert mu.shape == logvar.shape == (3, D) and probs.shape == (3, K)
    assert torch.allclose(probs.sum(1), torch.ones(3))
    assert torch.allclose(mu, model.encode(x, probs.argmax(1))[0])
    assert model.reconstruct_logits(x).shape == (3, 1, 8, 8)
    assert model.classify(x).shape == (3, K)
    space = model.latent_space
    assert (space.kind, space.dim, space.n_classes) == ("style_class", D, K)
    assert M2.headline[0] == "test_accuracy" and not M2.headline_lower_is_better and M2.uses_labels


def test_the_unlabelled_term_trains_the_classifier():
    model, x = _model(), _images(4)
    model.loss_terms(_batch(x), _ctx()).loss.backward()
    first = model.classifier[0][1].weight.grad  # the classifier's first Linear
    assert first is not None and first.abs().sum() > 0


def test_same_generator_seed_gives_the_same_loss():
    model, x = _model(), _images(6)
    batch = _batch(x, torch.tensor([0, 1, 2, 0, 1, 2]), torch.tensor([True, False] * 3))
    a = model.loss_terms(batch, _ctx(seed=5)).loss
    b = model.loss_terms(batch, _ctx(seed=5)).loss
    c = model.loss_terms(batch, _ctx(seed=6)).loss
    assert a.item() == b.item() and a.item() != c.item()


def test_short_training_with_few_labels_beats_chance():
    """Two classes (bright left or right half), 4 of 240 images labelled."""
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    y = torch.arange(240) % 2
    x = 0.1 * torch.rand(240, 1, 6, 6, generator=g)
    x[y == 0, :, :, :3] += 0.8
    x[y == 1, :, :, 3:] += 0.8
    labelled = torch.zeros(240, dtype=torch.bool)
    labelled[:4] = True
    model = _model(shape=(1, 6, 6), k=2)
    ctx = _ctx(n_train=240, n_labelled=4)
    lab, unl = labelled.nonzero().flatten(), (~labelled).nonzero().flatten()
    test = _batch(x, y)
    before = model.evaluate_terms(test, ctx).terms["accuracy"].item()
    for _ in range(3):
        for step in range(0, len(unl), 59):
            index = torch.cat([unl[step : step + 59], lab])
            loss = model.loss_terms(_batch(x[index], y[index], labelled[index]), ctx).loss
            model.zero_grad()
            loss.backward()
            with torch.no_grad():  # plain SGD by hand: a torch.optim step's first call costs seconds of imports
                for p in model.parameters():
                    p -= LR * p.grad
    after = model.evaluate_terms(test, ctx).terms["accuracy"].item()
    assert after > 0.9 and after > before
