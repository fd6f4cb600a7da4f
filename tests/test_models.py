import pytest
import torch

import vae_core as vc


@pytest.mark.parametrize("arch", ["mlp", "conv", "broadcast"])
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


def test_the_broadcast_is_one_linear_layer_over_z_and_each_pixels_coordinates():
    from vae_core.models.nets import SpatialBroadcast

    torch.manual_seed(0)
    layer = SpatialBroadcast(3, 6, (4, 5))
    z = torch.randn(2, 3)
    got = layer(z)  # (B, P, K), pixels row by row
    joint = torch.nn.Linear(5, 6)  # the same layer written as one Linear over [z, x, y]
    with torch.no_grad():
        joint.weight.copy_(torch.cat([layer.from_z.weight, layer.from_xy.weight], 1))
        joint.bias.copy_(layer.from_z.bias)
    xs, ys = torch.linspace(-1, 1, 5), torch.linspace(-1, 1, 4)
    for row, col in [(0, 0), (3, 4), (2, 1)]:
        inp = torch.cat([z, xs[col].expand(2, 1), ys[row].expand(2, 1)], 1)
        assert torch.allclose(got[:, row * 5 + col], joint(inp), atol=1e-6)


def test_a_broadcast_decoder_draws_where_its_coordinates_say():
    """With from_xy reading x alone and z shifting a threshold, the drawn columns follow z."""
    cfg = vc.ModelConfig(image_shape=(1, 8, 8), latent_dim=1, arch="broadcast", hidden=8, hidden_layers=1)
    model = vc.VAE(cfg).eval()
    broadcast, conv = model.decoder[0], model.decoder[-1]
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.zero_()
        broadcast.from_xy.weight[0] = torch.tensor([1.0, 0.0])  # channel 0 = relu(x − z)
        broadcast.from_z.weight[0, 0] = -1.0
        conv.weight[0, 0] = 1.0
    lit = lambda z: (model.decode(torch.tensor([[z]]))[0, 0] > 0).any(0)  # columns with any positive logit
    left, right = lit(-0.5), lit(0.5)
    assert right.sum() < left.sum() and right[-1] and left[-1] and not right[0]


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
