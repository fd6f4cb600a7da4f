"""The gaussian family's objectives: β-TCVAE's decomposition, FactorVAE's discriminator, capacity
annealing; their settings, their records, and an exact continuation of a FactorVAE run."""

import math

import pytest
import torch
from safetensors.torch import load_file

import vae_core as vc
from vae_core.models.objectives import (
    Discriminator,
    PosteriorMemory,
    factor_vae_terms,
    gaussian_log_density,
    joint_log_density,
    permute_dims,
    tc_decomposition,
)
from vae_core.train import build_parser

SPEC = dict(dataset="digits", model={"latent_dim": 3, "hidden": 32}, training={"epochs": 4, "batch_size": 256})


def test_gaussian_log_density_by_hand():
    value = gaussian_log_density(torch.tensor(1.0), torch.tensor(0.0), torch.tensor(math.log(4.0)))
    assert value.item() == pytest.approx(-0.5 * (math.log(2 * math.pi) + math.log(4.0) + 1 / 4))


def test_the_three_terms_add_up_to_the_sampled_kl():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(64, 4, generator=g), torch.randn(64, 4, generator=g) * 0.3
    z = mu + torch.exp(0.5 * logvar) * torch.randn(64, 4, generator=g)
    mi, tc, dwkl = tc_decomposition(z, mu, logvar, dataset_size=10_000)
    sampled_kl = (gaussian_log_density(z, mu, logvar) - gaussian_log_density(z, 0 * z, 0 * z)).sum(1).mean()
    assert (mi + tc + dwkl).item() == pytest.approx(sampled_kl.item(), abs=1e-4)


def test_total_correlation_is_larger_for_copied_dimensions_than_for_independent_ones():
    """Minibatch-weighted sampling carries an offset of its own (it assumes N ≫ batch), the same for
    both codes; the difference is the information the copies share."""
    g = torch.Generator().manual_seed(1)
    n, d, sigma = 512, 4, 0.1
    logvar = torch.full((n, d), math.log(sigma**2))
    mu_independent = torch.randn(n, d, generator=g)
    mu_copied = torch.randn(n, 1, generator=g).repeat(1, d)  # every dimension the same number
    tcs = []
    for mu in (mu_independent, mu_copied):
        z = mu + sigma * torch.randn(n, d, generator=g)
        tcs.append(tc_decomposition(z, mu, logvar, dataset_size=60_000)[1].item())
    assert tcs[1] - tcs[0] > 2.0


def test_the_joint_density_by_matrix_products_equals_the_direct_sum_even_for_narrow_posteriors():
    g = torch.Generator().manual_seed(2)
    mu = torch.randn(6, 5, generator=g) * 2
    logvar = torch.full((6, 5), math.log(1e-3**2))  # σ = 0.001: z²w and μ²w are ~1e7 and cancel
    z = mu[:4] + 1e-3 * torch.randn(4, 5, generator=g)
    z64, mu64, logvar64 = z.double(), mu.double(), logvar.double()
    direct = gaussian_log_density(z64.unsqueeze(1), mu64.unsqueeze(0), logvar64.unsqueeze(0)).sum(2)
    assert torch.allclose(joint_log_density(z, mu, logvar).double(), direct, atol=1e-3)


def test_the_posterior_memory_is_a_ring_of_the_latest_rows():
    memory = PosteriorMemory(rows=5, latent_dim=2)
    assert len(memory.references()[0]) == 0
    memory.push(torch.tensor([[1.0, 1], [2, 2], [3, 3]]), torch.zeros(3, 2))
    assert memory.references()[0][:, 0].tolist() == [1, 2, 3]
    memory.push(torch.tensor([[4.0, 4], [5, 5], [6, 6]]), torch.full((3, 2), -1.0))
    mu, logvar = memory.references()
    assert mu[:, 0].tolist() == [6, 2, 3, 4, 5]  # the oldest row (1) overwritten
    assert logvar[:, 0].tolist() == [-1, 0, 0, -1, -1]


def test_a_memory_keeps_the_decomposition_exact_and_unsaturates_log_qz():
    """Narrow posteriors of 64 points spread over 4-D: on the batch alone each log q(z_i) is its own
    posterior's density less log(B·N), so the index-code MI estimate cannot exceed log B. Remembered
    posteriors of the same distribution let it grow towards the true I(x; z) (large here)."""
    g = torch.Generator().manual_seed(3)
    b, d, n = 64, 4, 100_000
    logvar = torch.full((b, d), math.log(0.05**2))
    mu = torch.randn(b, d, generator=g)
    z = mu + 0.05 * torch.randn(b, d, generator=g)
    memory = PosteriorMemory(rows=4096, latent_dim=d)
    memory.push(torch.randn(4096, d, generator=g), torch.full((4096, d), math.log(0.05**2)))
    alone = tc_decomposition(z, mu, logvar, dataset_size=n)
    remembered = tc_decomposition(z, mu, logvar, dataset_size=n, memory=memory)
    sampled_kl = (gaussian_log_density(z, mu, logvar) - gaussian_log_density(z, 0 * z, 0 * z)).sum(1).mean()
    assert sum(remembered).item() == pytest.approx(sampled_kl.item(), abs=1e-3)
    # MI − log N is the estimate of I(x; z) on the reference set: ≤ log B alone, beyond it with the memory
    assert alone[0].item() - math.log(n) <= math.log(b) + 1e-3
    assert remembered[0].item() - math.log(n) > math.log(b) + 1.0
    assert torch.equal(alone[2], remembered[2])  # the marginals stay on the batch


def test_permuting_dimensions_shuffles_each_column_on_its_own():
    z = torch.arange(40.0).reshape(10, 4)
    p = permute_dims(z, torch.Generator().manual_seed(0))
    for d in range(4):
        assert sorted(p[:, d].tolist()) == z[:, d].tolist()
    assert not torch.equal(p, z)
    assert not all(torch.equal(p[:, 0] - z[0, 0], p[:, d] - z[0, d]) for d in range(1, 4))  # rows broken up


def test_the_tc_estimate_trains_only_the_encoder_and_the_discriminator_loss_only_the_discriminator():
    torch.manual_seed(0)
    disc = Discriminator(3, hidden=8, layers=2)
    source = torch.randn(16, 3, requires_grad=True)
    z = source * 2
    tc, d_loss, accuracy = factor_vae_terms(z, disc, torch.Generator().manual_seed(0))
    tc.backward(retain_graph=True)
    assert source.grad is not None and source.grad.abs().sum() > 0
    assert all(p.grad is None for p in disc.parameters())
    source.grad = None
    d_loss.backward()
    assert source.grad is None
    assert all(p.grad is not None for p in disc.parameters())
    assert 0.0 <= accuracy.item() <= 1.0


def test_capacity_ramps_linearly_to_its_target():
    cfg = vc.TrainConfig(objective="capacity", capacity=20.0, capacity_epochs=4, epochs=10)
    assert [cfg.capacity_at(e) for e in (0, 1, 2, 4, 9)] == [0.0, 5.0, 10.0, 20.0, 20.0]
    whole = vc.TrainConfig(objective="capacity", capacity=20.0, epochs=10)  # ramp over the whole run
    assert whole.capacity_at(5) == 10.0


@pytest.mark.parametrize("kwargs, message", [
    ({"objective": "beta-vae", "gamma": 5.0}, "gamma applies to the factor-vae objective"),
    ({"objective": "factor-vae", "beta": 4.0}, "beta applies to the beta-vae, beta-tcvae objective"),
    ({"objective": "capacity", "warmup_epochs": 2}, "warmup_epochs applies to"),
    ({"objective": "info-vae"}, "objective must be one of"),
    ({"objective": "factor-vae", "family": "vq"}, "objective applies to the gaussian family"),
    ({"objective": "beta-vae", "tc_memory": 8}, "tc_memory applies to the beta-tcvae objective"),
])
def test_a_setting_of_another_objective_is_refused_by_name(kwargs, message):
    with pytest.raises(vc.ConfigError, match=message):
        vc.TrainConfig(**kwargs)


def test_the_run_record_keeps_the_objective_and_only_its_settings():
    saved = vc.TrainConfig(objective="factor-vae", gamma=35.0).to_dict()
    assert saved["objective"] == "factor-vae" and saved["gamma"] == 35.0
    assert "beta" not in saved and "capacity" not in saved
    assert "objective" not in vc.TrainConfig(family="vq").to_dict()


def test_the_cli_offers_every_objective_and_its_settings():
    args = build_parser().parse_args(["--objective", "capacity", "--capacity", "12", "--out", "x"])
    assert args.objective == "capacity" and args.capacity == 12.0
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--objective", "nope", "--out", "x"])


@pytest.mark.parametrize("objective, extra, terms", [
    ("beta-tcvae", {"beta": 6.0}, {"mi", "tc", "dimension_kl"}),
    ("factor-vae", {"gamma": 10.0}, {"tc", "discriminator_loss", "discriminator_accuracy"}),
    ("capacity", {"capacity": 5.0}, {"capacity"}),
])
def test_each_objective_trains_and_records_its_terms(tmp_path, objective, extra, terms):
    spec = vc.RunSpec(**{**SPEC, "training": {**SPEC["training"], "epochs": 2, "objective": objective, **extra}})
    outcome = vc.run_training(spec, tmp_path / "ck")
    history = vc.load_checkpoint(tmp_path / "ck").history
    assert terms <= set(history[-1].train)
    assert {"test_loss", "test_recon", "test_kl"} <= set(history[-1].test)  # the ELBO, whatever the objective
    assert outcome.record.training["objective"] == objective
    assert math.isfinite(history[-1].test["test_loss"])


def test_capacity_keeps_the_kl_near_its_target(tmp_path):
    spec = vc.RunSpec(**{**SPEC, "training": {"epochs": 6, "batch_size": 128, "objective": "capacity",
                                              "capacity": 3.0, "capacity_epochs": 2}})
    vc.run_training(spec, tmp_path / "ck")
    last = vc.load_checkpoint(tmp_path / "ck").history[-1]
    assert last.train["capacity"] == pytest.approx(3.0)
    assert abs(last.train["kl"] - 3.0) < 1.0  # γ = 1000 pins KL to C


def test_a_continued_factor_vae_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path):
    training = {**SPEC["training"], "objective": "factor-vae", "gamma": 10.0}
    vc.run_training(vc.RunSpec(**{**SPEC, "training": training}), tmp_path / "straight")
    vc.run_training(vc.RunSpec(**{**SPEC, "training": {**training, "epochs": 2}}), tmp_path / "half")
    assert any(k.startswith("auxiliary.") for k in load_file(str(tmp_path / "half" / "trainer_state.safetensors")))
    vc.run_training(vc.RunSpec(**{**SPEC, "training": training}, resume_from=str(tmp_path / "half")),
                    tmp_path / "resumed")
    a = load_file(str(tmp_path / "straight" / "model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not any(k.startswith("auxiliary") or "net." in k for k in a)  # the discriminator is not the model's


def test_a_continued_beta_tcvae_run_with_a_posterior_memory_ends_like_an_uninterrupted_one(tmp_path):
    training = {**SPEC["training"], "batch_size": 128, "objective": "beta-tcvae", "beta": 6.0, "tc_memory": 4}
    vc.run_training(vc.RunSpec(**{**SPEC, "training": training}), tmp_path / "straight")
    vc.run_training(vc.RunSpec(**{**SPEC, "training": {**training, "epochs": 2}}), tmp_path / "half")
    state = load_file(str(tmp_path / "half" / "trainer_state.safetensors"))
    assert state["auxiliary.mu"].shape == (4 * 128, 3) and int(state["auxiliary.filled"]) == 4 * 128
    vc.run_training(vc.RunSpec(**{**SPEC, "training": training}, resume_from=str(tmp_path / "half")),
                    tmp_path / "resumed")
    a = load_file(str(tmp_path / "straight" / "model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert vc.load_checkpoint(tmp_path / "straight").metadata["training"]["tc_memory"] == 4
