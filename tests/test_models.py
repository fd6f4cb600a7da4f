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


@pytest.mark.parametrize("family", ["gaussian", "ae", "m2"])
@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_hidden_layers_deepen_encoder_and_decoder_alike(family, arch):
    def linears(layers):
        cfg = vc.ModelConfig(image_shape=(1, 16, 16), family=family, latent_dim=3, arch=arch, hidden=24,
                             hidden_layers=layers, **({"n_classes": 4} if family == "m2" else {}))
        model = vc.build_model(cfg)
        square = lambda seq: sum(isinstance(m, torch.nn.Linear) and m.weight.shape == (24, 24) for m in seq)
        return model, square(model.encoder), square(model.decoder)

    _, enc1, dec1 = linears(1)
    model, enc3, dec3 = linears(3)
    assert (enc1, dec1) == (0, 0) and (enc3, dec3) == (2, 2)  # hidden -> hidden layers added on both sides
    x = torch.rand(2, 1, 16, 16)
    if family == "m2":
        assert model.decode_zy(torch.zeros(2, 3), torch.tensor([0, 3])).shape == (2, 1, 16, 16)
        assert model.classify(x).shape == (2, 4)
    else:
        assert model.decode(torch.zeros(2, 3)).shape == (2, 1, 16, 16)


def test_a_config_saved_before_hidden_layers_existed_loads_with_one():
    data = vc.ModelConfig(image_shape=(1, 8, 8), latent_dim=2).to_dict()
    data.pop("hidden_layers")
    assert vc.ModelConfig.from_dict(data).hidden_layers == 1
    with pytest.raises(vc.ConfigError, match="hidden_layers"):
        vc.ModelConfig(image_shape=(1, 8, 8), hidden_layers=5)


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
