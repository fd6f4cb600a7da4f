import math

import pytest
import torch

from vae_core.config import ModelConfig, TrainConfig
from vae_core.models.base import LatentSpace, StepContext, init_weights
from vae_core.models.vq import VQVAE


def make_model(shape=(1, 8, 8), d=3, k=8, hidden=16, seed=0) -> VQVAE:
    cfg = ModelConfig(image_shape=shape, family="vq", latent_dim=d, codebook_size=k, hidden=hidden)
    model = VQVAE(cfg)
    init_weights(model, torch.Generator().manual_seed(seed))
    return model


def make_ctx(seed=1, **train) -> StepContext:
    return StepContext(train=TrainConfig(family="vq", **train), beta=1.0, generator=torch.Generator().manual_seed(seed))


def batch(x):
    n = x.shape[0]
    return {"images": x, "labels": torch.zeros(n, dtype=torch.int64), "labelled": torch.zeros(n, dtype=torch.bool)}


def set_codebook(model, codes, counts):
    """Hand-built codebook with EMA state consistent with it (m_k = N_k e_k)."""
    codes, counts = torch.as_tensor(codes, dtype=torch.float32), torch.as_tensor(counts, dtype=torch.float32)
    model.codebook.copy_(codes)
    model.ema_cluster_size.copy_(counts)
    model.ema_code_sum.copy_(codes * counts[:, None])
    model.codebook_ready.fill_(1)


def grid_of(vectors):
    """(N, D) vectors -> z_e of shape (1, D, 1, N)."""
    return torch.as_tensor(vectors, dtype=torch.float32).T.reshape(1, -1, 1, len(vectors))


@pytest.fixture
def images():
    return torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("shape, grid", [((1, 8, 8), (4, 4)), ((1, 16, 16), (4, 4)), ((1, 28, 28), (7, 7)),
                                         ((3, 32, 32), (4, 4))])
def test_latent_space_grid(shape, grid):
    model = VQVAE(ModelConfig(image_shape=shape, family="vq", latent_dim=5, codebook_size=12, hidden=8))
    assert model.latent_space == LatentSpace("codebook", dim=5, grid=grid, codebook_size=12)
    assert model.family == "vq" and model.headline[0] == "test_recon"


def test_shapes_of_page_methods(images):
    model = make_model()
    idx = model.encode(images)
    assert idx.shape == (6, 4, 4) and idx.dtype == torch.int64 and idx.min() >= 0 and idx.max() < 8
    z_e = model.encode_continuous(images)
    assert z_e.shape == (6, 3, 4, 4)
    z_q, idx2 = model.quantize(z_e)
    assert z_q.shape == z_e.shape and torch.equal(idx, idx2)
    assert model.decode(idx).shape == (6, 1, 8, 8)
    assert model.decode_vectors(z_q).shape == (6, 1, 8, 8)
    assert model.reconstruct_logits(images).shape == (6, 1, 8, 8)
    assert torch.equal(model.embed(images), model.lookup(idx).flatten(1))  # the grid the decoder sees: (6, 3*4*4)
    assert model.sample(5, torch.Generator().manual_seed(0)).shape == (5, 1, 8, 8)
    assert model.sample_codes(5, torch.Generator().manual_seed(0)).shape == (5, 4, 4)
    assert model.code_atlas().shape == (8, 1, 8, 8)
    assert model.codebook_vectors().shape == (8, 3)


def test_quantize_picks_the_nearest_code():
    model = make_model(d=2, k=3)
    set_codebook(model, [[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]], [1, 1, 1])
    z_e = grid_of([[0.1, -0.2], [0.9, 0.3], [0.2, 1.4], [0.6, 0.1], [-3.0, 5.0]])  # (1, 2, 1, 5)
    z_q, idx = model.quantize(z_e)
    assert idx.tolist() == [[[0, 1, 2, 1, 2]]]
    expected = grid_of([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [1.0, 0.0], [0.0, 2.0]])
    assert torch.allclose(z_q, expected)
    assert torch.equal(model.decode(idx), model.decode_vectors(expected))


def test_straight_through_gradient_equals_the_gradient_at_z_q():
    model = make_model(d=2, k=3)
    set_codebook(model, [[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]], [1, 1, 1])
    z_e = grid_of([[0.1, -0.2], [0.9, 0.3], [0.2, 1.4]]).requires_grad_()
    w = torch.tensor([1.0, -2.0, 3.0]).view(1, 1, 1, 3)
    loss_fn = lambda z: (w * z.pow(2)).sum() + z.sum()

    z_q, _ = model.quantize(z_e)
    loss_fn(z_q).backward()
    at_q = z_q.detach().clone().requires_grad_()
    loss_fn(at_q).backward()
    assert torch.allclose(z_e.grad, at_q.grad)
    at_e = z_e.detach().clone().requires_grad_()
    loss_fn(at_e).backward()
    assert not torch.allclose(z_e.grad, at_e.grad)  # the gradient is taken at z_q, not at z_e


def test_ema_update_follows_the_formula_by_hand():
    model = make_model(d=2, k=3)
    set_codebook(model, [[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]], [2.0, 1.0, 4.0])
    z_e = grid_of([[1.0, 0.2], [0.8, 0.0], [0.0, 2.4]])
    _, idx = model.quantize(z_e)
    assert idx.tolist() == [[[0, 0, 2]]]  # code 1 gets nothing
    assert model.ema_update(z_e, idx, decay=0.9)
    # N = 0.9 N + 0.1 n; m = 0.9 m + 0.1 Σ z
    assert torch.allclose(model.ema_cluster_size, torch.tensor([2.0, 0.9, 3.7]))
    m = torch.tensor([[1.98, 0.02], [0.9, 0.9], [0.0, 7.44]])
    assert torch.allclose(model.ema_code_sum, m)
    eps, n = 1e-5, 6.6
    smoothed = [(c + eps) / (n + 3 * eps) * n for c in (2.0, 0.9, 3.7)]
    expected = torch.stack([m[i] / smoothed[i] for i in range(3)])
    assert torch.allclose(model.codebook, expected, atol=1e-6)
    # code 0 moved from (1, 0) toward its batch mean (0.9, 0.1); the unused code stays put
    assert torch.allclose(model.codebook[0], torch.tensor([0.99, 0.01]), atol=1e-4)
    assert torch.allclose(model.codebook[1], torch.tensor([1.0, 1.0]), atol=1e-4)


def test_training_step_updates_the_codebook_by_the_ema(images):
    model = make_model().train()
    codes = torch.randn(8, 3, generator=torch.Generator().manual_seed(3))
    set_codebook(model, codes, torch.full((8,), 50.0))  # well above the restart threshold
    with torch.no_grad():
        z_e = model.encode_continuous(images)
    idx = model.encode(images)
    flat = z_e.permute(0, 2, 3, 1).reshape(-1, 3)
    onehot = torch.nn.functional.one_hot(idx.flatten(), 8).float()  # (96, 8)
    size = 0.99 * 50 + 0.01 * onehot.sum(0)
    total = 0.99 * codes * 50 + 0.01 * onehot.T @ flat
    n = size.sum()
    smoothed = (size + 1e-5) / (n + 8e-5) * n

    terms = model.loss_terms(batch(images), make_ctx())
    assert torch.allclose(model.ema_cluster_size, size)
    assert torch.allclose(model.codebook, total / smoothed[:, None], atol=1e-5)
    assert terms.terms["restarted_codes"].item() == 0
    assert torch.allclose(terms.vectors["code_usage"], onehot.sum(0) / 6)
    assert terms.vectors["code_usage"].sum().item() == pytest.approx(16)  # 4×4 positions per example


def test_dead_code_is_restarted_at_an_encoder_output(images):
    model = make_model()
    codes = torch.randn(8, 3, generator=torch.Generator().manual_seed(3))
    set_codebook(model, codes, [5.0, 5.0, 0.5, 5.0, 5.0, 5.0, 5.0, 5.0])
    with torch.no_grad():
        z_e = model.encode_continuous(images)
    flat = z_e.permute(0, 2, 3, 1).reshape(-1, 3)
    assert model.restart_dead_codes(z_e, torch.Generator().manual_seed(0)) == 1
    assert (model.codebook[2] == flat).all(dim=1).any()  # exactly one of the batch's vectors
    assert model.ema_cluster_size[2].item() == 1.0
    assert torch.equal(model.ema_code_sum[2], model.codebook[2])
    keep = [0, 1, 3, 4, 5, 6, 7]
    assert torch.equal(model.codebook[keep], codes[keep])
    assert model.restart_count.item() == 1


def test_training_step_restarts_unused_codes_and_counts_them(images):
    model = make_model().train()
    set_codebook(model, torch.zeros(8, 3) + torch.arange(8.0)[:, None] * 100, torch.ones(8))
    terms = model.loss_terms(batch(images), make_ctx())  # codes far away: only code 0 is ever chosen
    assert terms.vectors["code_usage"][1:].sum().item() == 0
    assert terms.terms["restarted_codes"].item() == 7
    with torch.no_grad():
        flat = model.encode_continuous(images).permute(0, 2, 3, 1).reshape(-1, 3)
    for k in range(1, 8):
        assert (model.codebook[k] == flat).all(dim=1).any()


def test_first_training_step_draws_the_codebook_from_encoder_outputs(images):
    model = make_model()
    assert model.codebook_ready.item() == 0
    with torch.no_grad():
        z_e = model.encode_continuous(images)
    model.init_codebook(z_e, torch.Generator().manual_seed(0))
    flat = z_e.permute(0, 2, 3, 1).reshape(-1, 3)
    assert all((model.codebook[k] == flat).all(dim=1).any() for k in range(8))
    assert torch.unique(model.codebook, dim=0).shape[0] == 8  # distinct outputs: 96 to choose from
    assert model.codebook_ready.item() == 1

    fresh = make_model().train()
    fresh.loss_terms(batch(images), make_ctx())
    assert fresh.codebook_ready.item() == 1 and fresh.codebook.abs().sum() > 0


def test_perplexity_and_dead_codes_from_summed_usage():
    model = make_model(k=4)
    sums = {"loss": 30.0, "recon": 20.0, "commitment": 40.0, "restarted_codes": 0.0}
    uniform = model.test_metrics(sums, {"code_usage": torch.full((4,), 12.0)}, n=10)
    assert uniform["test_perplexity"] == pytest.approx(4.0)
    assert uniform["test_dead_codes"] == 0 and uniform["test_codes_used"] == 4
    assert uniform["test_code_usage"] == pytest.approx([0.25] * 4)
    assert uniform["test_loss"] == pytest.approx(3.0) and uniform["test_recon"] == pytest.approx(2.0)
    assert uniform["test_commitment"] == pytest.approx(4.0)
    assert "test_restarted_codes" not in uniform

    single = model.test_metrics(sums, {"code_usage": torch.tensor([0.0, 0.0, 48.0, 0.0])}, n=10)
    assert single["test_perplexity"] == pytest.approx(1.0)
    assert single["test_dead_codes"] == 3 and single["test_codes_used"] == 1
    assert single["test_code_usage"] == [0.0, 0.0, 1.0, 0.0]

    two = model.test_metrics(sums, {"code_usage": torch.tensor([1.0, 3.0, 0.0, 0.0])}, n=10)
    assert two["test_perplexity"] == pytest.approx(math.exp(-(0.25 * math.log(0.25) + 0.75 * math.log(0.75))))
    assert isinstance(two["test_dead_codes"], int) and isinstance(two["test_perplexity"], float)


def test_eval_mode_leaves_every_buffer_unchanged(images):
    model = make_model().train()
    model.loss_terms(batch(images), make_ctx())
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    terms = model.evaluate_terms(batch(images), make_ctx())
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert terms.terms["restarted_codes"].item() == 0

    untrained = make_model().eval()
    untrained.evaluate_terms(batch(images), make_ctx())
    assert untrained.codebook_ready.item() == 0  # no codebook drawn outside training


def test_loss_is_recon_plus_weighted_commitment(images):
    model = make_model().train()
    terms = model.loss_terms(batch(images), make_ctx(commitment=0.5))
    t = terms.terms
    assert torch.allclose(terms.loss.detach(), t["recon"] + 0.5 * t["commitment"])
    assert torch.allclose(t["loss"], terms.loss.detach())
    assert terms.loss.dtype == torch.float32
    terms.loss.backward()
    assert all(p.grad is not None for p in model.encoder.parameters())
    assert all(p.grad is not None for p in model.decoder.parameters())


def test_bf16_autocast_keeps_loss_and_codebook_in_float32(images):
    model = make_model().train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        terms = model.loss_terms(batch(images), make_ctx())
    assert terms.loss.dtype == torch.float32 and torch.isfinite(terms.loss)
    assert model.codebook.dtype == torch.float32 and torch.isfinite(model.codebook).all()


def test_prior_is_fitted_to_code_frequencies_per_position(images):
    model = make_model().train()
    model.loss_terms(batch(images), make_ctx())
    model.end_of_epoch(lambda: images, make_ctx())
    assert model.training  # mode restored
    idx = model.encode(images).flatten(1)  # (6, 16)
    expected = torch.nn.functional.one_hot(idx, 8).float().mean(0)  # (16, 8)
    assert torch.allclose(model.prior_probs, expected)
    codes = model.sample_codes(200, torch.Generator().manual_seed(0)).flatten(1)  # (200, 16)
    assert (expected.gather(1, codes.T) > 0).all()  # only codes seen at that position


def test_state_dict_round_trip(images):
    model = make_model().train()
    ctx = make_ctx()
    for _ in range(3):
        model.loss_terms(batch(images), ctx)
    model.end_of_epoch(lambda: images, ctx)
    state = model.state_dict()
    assert {"codebook", "ema_cluster_size", "ema_code_sum", "prior_probs", "codebook_ready",
            "restart_count"} <= set(state)
    copy = make_model(seed=5)
    copy.load_state_dict(state)
    assert all(torch.equal(state[k], copy.state_dict()[k]) for k in state)
    assert torch.equal(model.encode(images), copy.encode(images))
    g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    assert torch.equal(model.sample(3, g1), copy.sample(3, g2))


def test_same_seeds_give_identical_training(images):
    def run():
        model = make_model(seed=2).train()
        ctx = make_ctx(seed=9)
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(4):
            terms = model.loss_terms(batch(images), ctx)
            opt.zero_grad()
            terms.loss.backward()
            opt.step()
        model.end_of_epoch(lambda: images, ctx)
        return model.state_dict(), model.sample(4, torch.Generator().manual_seed(0))

    (s1, x1), (s2, x2) = run(), run()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    assert torch.equal(x1, x2)


def test_a_few_hundred_adam_steps_learn_four_patterns():
    torch.manual_seed(123)  # would only matter if something drew from the global generator
    bars = torch.zeros(4, 1, 8, 8)
    bars[0, 0, 2:4, :] = 1  # horizontal bar
    bars[1, 0, :, 5:7] = 1  # vertical bar
    bars[2, 0] = torch.eye(8)  # diagonal
    bars[3, 0, ::2, ::2] = 1  # dots
    x = bars.repeat(4, 1, 1, 1)  # (16, 1, 8, 8)
    model = make_model(d=4, k=16, hidden=32).train()
    ctx = make_ctx()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(300):
        terms = model.loss_terms(batch(x), ctx)
        opt.zero_grad()
        terms.loss.backward()
        opt.step()
        first = first if first is not None else terms.terms["recon"].item()
    model.eval()
    with torch.no_grad():
        recon = model.evaluate_terms(batch(bars), make_ctx()).terms["recon"].item()
        error = (torch.sigmoid(model.reconstruct_logits(bars)) - bars).abs().max().item()
    assert recon < 0.1 * first
    assert error < 0.5  # every pixel on the right side of 1/2
