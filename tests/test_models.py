import pytest
import torch

import vae_core as vc


@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32), (1, 64, 64)])
def test_shapes_through_encoder_and_decoder(arch, shape):
    cfg = vc.ModelConfig(image_shape=shape, latent_dim=4, arch=arch, hidden=32)
    model = vc.VAE(cfg)
    x = torch.rand(5, *shape)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (5, 4)
    logits, mu2, _ = model(x)
    assert logits.shape == (5, *shape)
    assert torch.equal(mu, mu2)
    assert model.decode(torch.zeros(2, 4)).shape == (2, *shape)


def test_reparameterize_is_mu_plus_sigma_eps():
    mu = torch.tensor([[1.0, -2.0]])
    logvar = torch.log(torch.tensor([[4.0, 0.25]]))
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    z = vc.VAE.reparameterize(mu, logvar, g1)
    eps = torch.randn(1, 2, generator=g2)
    assert torch.allclose(z, mu + torch.tensor([[2.0, 0.5]]) * eps)


def test_reparameterized_sample_is_differentiable():
    mu = torch.zeros(3, 2, requires_grad=True)
    logvar = torch.zeros(3, 2, requires_grad=True)
    vc.VAE.reparameterize(mu, logvar).sum().backward()
    assert mu.grad is not None and logvar.grad is not None
